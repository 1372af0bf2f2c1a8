"""Regime benchmark: HMM inputs + train-only fit + fixed-lag forward filter on synthetic 1-minute bars.

Usage:  python benchmarks/bench_regimes.py --bars 1000000

Also measured in the same run: the textbook unbounded forward filter (O(n S^2), the filter's memory reaching back
to the first bar) on the same model, its time, and how far the fixed-lag probabilities (O(n K S^2), restarted
from the stationary prior K = filter_lag rows back for every row) are from it: the price of bounded memory.

Target (2-core machine): fit + filter on 1M bars <= 30 s with the default RegimeConfig (4 states, diag
covariances, at most 200k fit rows, 50 EM iterations, lag 240).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from numba import njit  # noqa: E402

from factory.regimes import RegimeConfig, RegimeHMM, hmm_inputs, trend_regime, volatility_regime  # noqa: E402

TARGET_S = 30.0


def make_bars(n_bars: int, seed: int = 0) -> pd.DataFrame:
    """The project's synthetic MES-like bars when available, else a 2-state volatility-switching random walk."""
    try:
        from factory.data.synth import generate_bars

        return generate_bars(n_bars, seed=seed)
    except ImportError:
        pass
    rng = np.random.default_rng(seed)
    states = np.cumsum(rng.random(n_bars) > 0.998) % 2
    sig = 2e-4 * np.array([1.0, 2.5])[states]
    close = 5000.0 * np.exp(np.cumsum(sig * rng.standard_normal(n_bars)))
    open_ = np.r_[5000.0, close[:-1]]
    return pd.DataFrame({
        "timestamp": pd.date_range("2024-01-02", periods=n_bars, freq="min", tz="UTC"),
        "open": open_,
        "high": np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal(n_bars)) * sig * 0.5),
        "low": np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal(n_bars)) * sig * 0.5),
        "close": close,
        "volume": rng.integers(1, 500, n_bars).astype(np.float64),
    })


@njit(cache=True)
def _unbounded_filter(b, init, transmat):  # pragma: no cover - compiled
    n, k = b.shape
    out = np.full((n, k), np.nan)
    alpha = init * b[0]
    alpha /= alpha.sum()
    out[0] = alpha
    for t in range(1, n):
        alpha = (alpha @ transmat) * b[t]
        alpha /= alpha.sum()
        out[t] = alpha
    return out


def unbounded_proba(model: RegimeHMM, X: np.ndarray) -> np.ndarray:
    """Filtered probabilities from the first NaN-free row on, the filter never restarted."""
    first = int(np.argmax(np.isfinite(X).all(axis=1)))
    log_b = model.log_emission(X[first:])
    b = np.exp(log_b - log_b.max(axis=1, keepdims=True))
    out = np.full((X.shape[0], log_b.shape[1]), np.nan)
    out[first:] = _unbounded_filter(b, model.initial_distribution(), model.transmat_)
    return out


def run(n_bars: int = 1_000_000, train_frac: float = 0.7, config: RegimeConfig | None = None) -> dict:
    cfg = config or RegimeConfig()
    bars = make_bars(n_bars)
    train_end = int(n_bars * train_frac)
    # Warm the numba kernel on a tiny input so compile/cache-load time is not counted as filtering.
    tiny = hmm_inputs(bars.iloc[:2000])
    RegimeHMM(cfg.model_copy(update={"n_iter": 1})).fit(tiny).filter_proba(tiny)

    t0 = time.perf_counter()
    X = hmm_inputs(bars, cfg.input_vol_window)
    t1 = time.perf_counter()
    model = RegimeHMM(cfg).fit(X, train_end=train_end)
    t2 = time.perf_counter()
    proba = model.filter_proba(X)
    t3 = time.perf_counter()
    volatility_regime(bars, cfg.vol_window, train_end)
    trend_regime(bars, cfg.trend_window)
    t4 = time.perf_counter()
    out = {
        "n_bars": n_bars,
        "n_states": cfg.n_states,
        "fit_rows": model.n_fit_rows_,
        "em_iterations": model.n_iter_,
        "inputs_s": t1 - t0,
        "fit_s": t2 - t1,
        "filter_s": t3 - t2,
        "simple_regimes_s": t4 - t3,
        "total_s": t4 - t0,
        "fit_plus_filter_s": (t3 - t0),
        "target_s": TARGET_S,
        "finite_rows": int(np.isfinite(proba).all(axis=1).sum()),
    }
    unbounded_proba(model, X[:2000])  # compile
    t5 = time.perf_counter()
    ref = unbounded_proba(model, X)
    out["unbounded_filter_s"] = time.perf_counter() - t5
    ok = np.isfinite(proba).all(axis=1) & np.isfinite(ref).all(axis=1)
    diff = np.abs(proba[ok] - ref[ok]).max(axis=1)
    out["lag_vs_unbounded_max_abs_diff"] = float(diff.max())
    out["lag_vs_unbounded_share_above_1e-6"] = float(np.mean(diff > 1e-6))
    out["lag_vs_unbounded_same_state"] = float(np.mean(proba[ok].argmax(axis=1) == ref[ok].argmax(axis=1)))
    for k, v in out.items():
        print(f"  {k:>34}: {v:.4g}" if isinstance(v, float) else f"  {k:>34}: {v}", flush=True)
    verdict = "OK" if out["fit_plus_filter_s"] <= TARGET_S else "SLOWER THAN TARGET"
    print(f"  inputs + fit + filter on {n_bars:,} bars: {out['fit_plus_filter_s']:.2f} s "
          f"(target <= {TARGET_S:.0f} s): {verdict}", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bars", type=int, default=1_000_000)
    args = ap.parse_args()
    run(n_bars=args.bars)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
