"""Label benchmark: our triple barrier vs mlfinpy's (get_events + get_bins, one thread) on the same bars.

Usage:  python benchmarks/bench_labels.py --bars 1000000 --events 20000

mlfinpy pins an old NumPy, so it is installed without its dependencies: ``pip install --no-deps mlfinpy``,
plus ``pip install statsmodels`` (its package ``__init__`` imports it); ``make bench`` does both.

How the two definitions are made identical (zero costs, ``path="close"``, symmetric widths ``k``):

* Ours: ``U_t = C_t + k * ATR_t``, ``L_t = C_t - k * ATR_t``; first close ``>= U`` / ``<= L`` in bars
  ``t+1 .. t+horizon``; else 0 at ``t + horizon``.
* mlfinpy: barriers on the simple return ``C_j / C_t - 1`` at ``± pt_sl * target``; passing
  ``target_t = ATR_t / C_t`` gives ``C_j > C_t + k * ATR_t`` -- the same levels (strict vs non-strict
  inequality differs only on an exact float tie). The vertical barrier is the timestamp of row ``t + horizon``.
  Without a ``side`` it uses ``pt_sl[0]`` for both barriers, hence symmetric widths here.
* Label convention: mlfinpy's ``get_bins`` (snippet 3.9 variant) labels a touch ``±1`` only when the log
  return at the exit exceeds ``pt * log(1 + target)``, which is NOT the barrier it touched
  (``log(1 + pt * target)``; for ``pt > 1`` the former is larger). A close just past the barrier would then be
  labelled 0 as if the vertical barrier had come first. We pass per-event multiples
  ``pt = sl = log(1 + k * target) / log(1 + target)`` so that its threshold is exactly the touched barrier, and
  also report how many labels its default convention gets "wrong" that way.

Targets (2-core machine): ours <= 1 s on 1M bars, >= 50x faster per event than mlfinpy.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_regimes import make_bars  # noqa: E402  (same synthetic bars as the regime benchmark)

from factory.contracts import CostModel, get_contract  # noqa: E402
from factory.labels import triple_barrier_labels  # noqa: E402

TARGET_S = 1.0
TARGET_RATIO = 50.0


def _import_mlfinpy_labeling():
    if importlib.util.find_spec("mlfinpy") is None:
        raise ImportError("mlfinpy is not installed: pip install --no-deps mlfinpy")
    if importlib.util.find_spec("statsmodels") is None:
        raise ImportError("mlfinpy imports statsmodels: pip install statsmodels")
    import mlfinpy.labeling as labeling

    return labeling


def _time_ours(bars: pd.DataFrame, k: float, horizon: int, repeats: int) -> tuple[pd.DataFrame, list[float]]:
    zero = CostModel.zero()
    triple_barrier_labels(bars.iloc[:1000], k, k, horizon, zero, path="close")  # JIT compile / cache load
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = triple_barrier_labels(bars, k, k, horizon, zero, path="close")
        times.append(time.perf_counter() - t0)
    return out, times


def run(n_bars: int = 1_000_000, n_events: int = 20_000, k: float = 2.0, horizon: int = 30,
        repeats: int = 3, seed: int = 0) -> dict:
    bars = make_bars(n_bars, seed=seed)
    ours, times = _time_ours(bars, k, horizon, repeats)
    ours_s = min(times)
    valid_rows = np.flatnonzero(ours["label"].notna().to_numpy())
    out = {
        "n_bars": n_bars,
        "k": k,
        "horizon": horizon,
        "ours_s_best": ours_s,
        "ours_s_median": statistics.median(times),
        "ours_valid_labels": int(valid_rows.size),
        "ours_us_per_event": 1e6 * ours_s / max(valid_rows.size, 1),
        "target_s": TARGET_S,
    }
    print(f"  ours, {n_bars:,} bars: best {ours_s:.3f} s, median {out['ours_s_median']:.3f} s "
          f"({out['ours_us_per_event']:.3f} us/event; target <= {TARGET_S:.0f} s: "
          f"{'OK' if ours_s <= TARGET_S else 'SLOWER THAN TARGET'})", flush=True)

    # The production variant (intrabar high/low touches, MES round-trip costs), for the record.
    mes = get_contract("MES").cost_model()
    hl_times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        triple_barrier_labels(bars, k, k, horizon, mes, path="high_low")
        hl_times.append(time.perf_counter() - t0)
    out["ours_high_low_mes_costs_s_best"] = min(hl_times)
    print(f"  ours, high/low touches + MES costs: best {min(hl_times):.3f} s", flush=True)

    try:
        labeling = _import_mlfinpy_labeling()
    except ImportError as exc:
        out["mlfinpy_error"] = str(exc)
        print(f"  mlfinpy unavailable: {exc}", flush=True)
        return out

    rng = np.random.default_rng(seed)
    ev = np.sort(rng.choice(valid_rows, size=min(n_events, valid_rows.size), replace=False))
    idx = pd.DatetimeIndex(bars["timestamp"])
    close = pd.Series(bars["close"].to_numpy(), index=idx)
    target = pd.Series(ours["atr"].to_numpy() / bars["close"].to_numpy(), index=idx)
    t_events = idx[ev]
    vertical = pd.Series(idx[ev + horizon], index=t_events)

    t0 = time.perf_counter()
    events = labeling.get_events(close, t_events, [k, k], target, min_ret=0.0, num_threads=1,
                                 vertical_barrier_times=vertical, verbose=False)
    t1 = time.perf_counter()
    trg = events["trgt"].to_numpy()
    mapped = events.copy()
    mapped["pt"] = mapped["sl"] = np.log1p(k * trg) / np.log1p(trg)  # threshold = the touched barrier
    bins = labeling.get_bins(mapped, close)
    t2 = time.perf_counter()
    default_bins = labeling.get_bins(events, close)  # their own convention, for the record (not timed)

    mlf_s = t2 - t0
    ours_ev = ours.iloc[ev]
    their_t1 = pd.DatetimeIndex(events["t1"].reindex(t_events))
    their_label = bins["bin"].reindex(t_events).to_numpy(np.float64)
    default_label = default_bins["bin"].reindex(t_events).to_numpy(np.float64)
    our_label = ours_ev["label"].to_numpy()
    same_t1 = int((their_t1 == pd.DatetimeIndex(ours_ev["t1_time"])).sum())
    same_label = int((their_label == our_label).sum())
    out.update({
        "events": int(ev.size),
        "mlfinpy_get_events_s": t1 - t0,
        "mlfinpy_get_bins_s": t2 - t1,
        "mlfinpy_s": mlf_s,
        "mlfinpy_us_per_event": 1e6 * mlf_s / ev.size,
        "same_t1": same_t1,
        "same_label": same_label,
        "label_mismatches": int(ev.size - same_label),
        "t1_mismatches": int(ev.size - same_t1),
        "default_get_bins_label_mismatches": int((default_label != our_label).sum()),
        "label_counts": {str(v): int((our_label == v).sum()) for v in (-1.0, 0.0, 1.0)},
    })
    out["speedup_per_event"] = out["mlfinpy_us_per_event"] / out["ours_us_per_event"]
    out["speedup_ours_all_bars_vs_mlfinpy_events"] = mlf_s / ours_s
    out["target_ratio"] = TARGET_RATIO
    print(f"  mlfinpy, {ev.size:,} events, 1 thread: {mlf_s:.2f} s (get_events {t1 - t0:.2f} s, get_bins "
          f"{t2 - t1:.2f} s) = {out['mlfinpy_us_per_event']:.1f} us/event", flush=True)
    print(f"  agreement on those events: t1 {same_t1}/{ev.size}, label {same_label}/{ev.size} "
          f"(labels {out['label_counts']}); mlfinpy's default get_bins convention differs on "
          f"{out['default_get_bins_label_mismatches']}", flush=True)
    print(f"  speed-up per event: {out['speedup_per_event']:,.0f}x (target >= {TARGET_RATIO:.0f}x: "
          f"{'OK' if out['speedup_per_event'] >= TARGET_RATIO else 'BELOW TARGET'}); "
          f"ours labelling all {n_bars:,} bars vs mlfinpy labelling {ev.size:,}: "
          f"{out['speedup_ours_all_bars_vs_mlfinpy_events']:,.1f}x", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--k", type=float, default=2.0)
    ap.add_argument("--horizon", type=int, default=30)
    args = ap.parse_args()
    run(n_bars=args.bars, n_events=args.events, k=args.k, horizon=args.horizon)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
