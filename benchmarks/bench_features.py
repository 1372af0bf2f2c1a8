"""Feature benchmark: the whole causal feature set, its peak memory, and the indicators shared with TA-Lib.

Usage:  python benchmarks/bench_features.py --bars 1000000 [--seed 0] [--repeats 3]

Measured in this run, on synthetic 1-minute bars (``factory.data.synth.generate_bars``, or a random walk):

* ``compute_features`` wall time, best of ``repeats`` runs after one small call that loads the compiled kernels,
  and the time of the first full call in a fresh process (where every page of memory is touched for the
  first time);
* its peak memory, in a fresh subprocess: the rise of the resident set (Linux ``VmHWM`` after resetting it
  through ``/proc/self/clear_refs``; elsewhere ``ru_maxrss``) over the resident set before the call, which
  includes the returned matrix (float64 by default), divided by that matrix's size;
* TA-Lib and our implementation of each indicator both compute, same periods, best of ``repeats`` runs each,
  with the largest absolute difference of the values after a 5,000-bar warm-up (where TA-Lib's seeding of its
  recursive averages no longer matters) on rows where neither side hits a degenerate window (no range / no
  flow, where TA-Lib returns 0 and ours the neutral value). Our recursive averages (EMA, Wilder's RSI / ATR /
  ADX, MACD) keep a bounded window of ceil(5 / alpha) bars, so their difference from TA-Lib's unbounded ones is
  the left-out weight's (about e^-5 of it); the "definition" column repeats the comparison with a memory of 25
  (left-out weight e^-25), where only rounding is left, which shows the recursion itself is TA-Lib's.

Targets (2-core machine): all features on 1M bars <= 2 s; the shared indicators together <= TA-Lib's time;
peak memory <= 2x the matrix.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._measure import PeakMemory  # noqa: E402
from factory.features import compute_features, feature_names  # noqa: E402
from factory.features import indicators as ind  # noqa: E402

SKIP = 5_000  # rows ignored when comparing values (recursive seeds differ)
LONG = 25.0  # memory at which a bounded recursion's left-out weight (e^-25) is below rounding


def make_bars(n_bars: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic MES-like 1-minute bars, or a tick-rounded random walk if the generator is unavailable."""
    try:
        from factory.data.synth import generate_bars
    except ImportError:
        generate_bars = None
    if generate_bars is not None:
        return generate_bars(n_bars, seed=seed)
    rng = np.random.default_rng(seed)
    c = np.round(4500 * np.exp(np.cumsum(rng.normal(0, 3e-4, n_bars))) * 4) / 4
    o = np.r_[c[0], c[:-1]]
    h = np.maximum(o, c) + np.floor(np.abs(rng.normal(0, 1.2, n_bars))) * 0.25
    lo = np.minimum(o, c) - np.floor(np.abs(rng.normal(0, 1.2, n_bars))) * 0.25
    ts = pd.date_range("2024-01-07 23:00", periods=n_bars, freq="1min", tz="UTC")
    return pd.DataFrame({"timestamp": ts, "open": o, "high": h, "low": lo, "close": c,
                         "volume": np.floor(rng.exponential(300, n_bars))})


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def shared_indicators(talib, o, h, lo, c, v):
    """(name, TA-Lib call, our call, mask of comparable rows or None, our call with a long memory or None);
    outputs are arrays or tuples of arrays. The long-memory call exists for the bounded recursions only."""
    out = []
    for n in (10, 20, 60, 240):
        out.append((f"SMA({n})", lambda n=n: talib.SMA(c, n), lambda n=n: ind.sma(c, n), None, None))
        out.append((f"EMA({n})", lambda n=n: talib.EMA(c, n), lambda n=n: ind.ema(c, n), None,
                    lambda n=n: ind.ema(c, n, LONG)))
        out.append((f"LINEARREG_SLOPE({n})", lambda n=n: talib.LINEARREG_SLOPE(c, n),
                    lambda n=n: ind.linreg_slope(c, n), None, None))
    for n in (7, 14, 28):
        out.append((f"RSI({n})", lambda n=n: talib.RSI(c, n), lambda n=n: ind.rsi(c, n), None,
                    lambda n=n: ind.rsi(c, n, LONG)))
    for n in (5, 14, 60, 240):
        out.append((f"ATR({n})", lambda n=n: talib.ATR(h, lo, c, n), lambda n=n: ind.atr(h, lo, c, n), None,
                    lambda n=n: ind.atr(h, lo, c, n, LONG)))
    for n in (20, 45, 90):
        out.append((f"ROC({n})", lambda n=n: talib.ROC(c, n), lambda n=n: ind.roc(c, n), None, None))
    for n in (20, 60, 240):
        out.append((f"STDDEV({n})", lambda n=n: talib.STDDEV(c, n), lambda n=n: ind.stddev(c, n), None, None))
        out.append((f"BBANDS({n})", lambda n=n: talib.BBANDS(c, n, 2, 2, 0), lambda n=n: ind.bollinger(c, n), None,
                    None))
    for n in (14, 60):
        ranged = (talib.MAX(h, n) - talib.MIN(lo, n)) > 0
        out.append((f"WILLR({n})", lambda n=n: talib.WILLR(h, lo, c, n), lambda n=n: ind.williams_r(h, lo, c, n),
                    ranged, None))
        out.append((f"ADX({n})", lambda n=n: talib.ADX(h, lo, c, n), lambda n=n: ind.adx(h, lo, c, n)[0], None,
                    lambda n=n: ind.adx(h, lo, c, n, LONG)[0]))
        flow = talib.SUM(np.r_[0.0, (np.diff((h + lo + c) / 3) != 0) * v[1:]], n) > 0
        out.append((f"MFI({n})", lambda n=n: talib.MFI(h, lo, c, v, n), lambda n=n: ind.mfi(h, lo, c, v, n), flow,
                    None))
        ranged3 = pd.Series(ranged).rolling(5).min().to_numpy() == 1  # fast %K and its two 3-bar averages
        out.append((f"STOCH({n},3,3)", lambda n=n: talib.STOCH(h, lo, c, n, 3, 0, 3, 0),
                    lambda n=n: ind.stochastic(h, lo, c, n), ranged3, None))
    for n in (20, 60):
        out.append((f"CCI({n})", lambda n=n: talib.CCI(h, lo, c, n), lambda n=n: ind.cci(h, lo, c, n), None, None))
    for f, s, g in ((12, 26, 9), (48, 104, 36)):
        out.append((f"MACD({f},{s},{g})", lambda f=f, s=s, g=g: talib.MACD(c, f, s, g),
                    lambda f=f, s=s, g=g: ind.macd(c, f, s, g), None,
                    lambda f=f, s=s, g=g: ind.macd(c, f, s, g, LONG)))
    out.append(("OBV", lambda: talib.OBV(c, v), lambda: ind.obv(c, v), None, None))
    return out


def _max_diff(ours, theirs, mask) -> float:
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    worst = 0.0
    for a, b in zip(ours, theirs):
        a, b = np.asarray(a)[SKIP:], np.asarray(b)[SKIP:]
        ok = np.isfinite(a) & np.isfinite(b)
        if mask is not None:
            ok &= mask[SKIP:]
        if ok.any():
            worst = max(worst, float(np.abs(a[ok] - b[ok]).max()))
    return worst


def memory_probe(n_bars: int, seed: int) -> dict:
    """Run in a fresh process: peak resident-set rise during compute_features."""
    bars = make_bars(n_bars, seed)
    compute_features(bars.iloc[:5000])  # load the compiled kernels
    mem = PeakMemory()
    t0 = time.perf_counter()
    x = compute_features(bars)
    first_call = time.perf_counter() - t0
    matrix = x.shape[0] * x.shape[1] * x.to_numpy().dtype.itemsize
    return {"peak_rise_bytes": mem.rise(), "matrix_bytes": int(matrix), "first_call_s": first_call,
            "method": mem.method}


def run(n_bars: int = 1_000_000, seed: int = 0, repeats: int = 3, memory: bool = True, verbose: bool = True) -> dict:
    """Time and size the feature set on ``n_bars`` synthetic bars; returns every figure in a dict."""
    say = print if verbose else (lambda *a, **k: None)
    bars = make_bars(n_bars, seed)
    n_feat = len(feature_names())
    compute_features(bars.iloc[:5000])  # load the compiled kernels
    t_feat = _best(lambda: compute_features(bars), repeats)
    res = {"n_bars": n_bars, "n_features": n_feat, "features_s": t_feat, "features_target_s": 2.0,
           "cpu_count": os.cpu_count()}
    say(f"bars: {n_bars:,}  features: {n_feat}  compute_features: {t_feat:.2f} s (best of {repeats}; target <= 2 s)")

    if memory:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--bars", str(n_bars), "--seed", str(seed), "--_memory"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        mem = json.loads(out.stdout.strip().splitlines()[-1])
        ratio = mem["peak_rise_bytes"] / mem["matrix_bytes"]
        res.update(memory_peak_bytes=mem["peak_rise_bytes"], matrix_bytes=mem["matrix_bytes"],
                   memory_ratio=ratio, memory_method=mem["method"], features_first_call_s=mem["first_call_s"])
        say(f"peak memory rise: {mem['peak_rise_bytes'] / 2**20:,.0f} MiB = {ratio:.2f} x the feature matrix "
            f"({mem['matrix_bytes'] / 2**20:,.0f} MiB; {mem['method']}; target <= 2x)")
        say(f"first call in a fresh process (all memory new to it): {mem['first_call_s']:.2f} s")

    try:
        import talib
    except ImportError:
        say("TA-Lib not installed: shared-indicator comparison skipped")
        return res
    o, h, lo, c, v = (bars[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume"))
    rows = []
    tot_ours = tot_theirs = 0.0
    for name, theirs, ours, mask, long_memory in shared_indicators(talib, o, h, lo, c, v):
        ours()  # compile / load
        t_t = _best(theirs, max(repeats, 5))
        t_o = _best(ours, max(repeats, 5))
        ref = theirs()
        diff = _max_diff(ours(), ref, mask)
        definition = _max_diff(long_memory(), ref, mask) if long_memory is not None else diff
        tot_ours += t_o
        tot_theirs += t_t
        rows.append({"indicator": name, "talib_ms": 1e3 * t_t, "ours_ms": 1e3 * t_o, "ratio": t_o / t_t,
                     "max_abs_diff": diff, "bounded": long_memory is not None,
                     "max_abs_diff_definition": definition})
    res["shared"] = rows
    res["shared_total_ours_s"] = tot_ours
    res["shared_total_talib_s"] = tot_theirs
    res["shared_total_ratio"] = tot_ours / tot_theirs
    res["shared_max_ratio"] = max(r["ratio"] for r in rows)
    say(f"{'indicator':22s} {'TA-Lib ms':>10s} {'ours ms':>9s} {'ratio':>6s} {'max|diff|':>10s} {'definition':>10s}")
    for r in rows:
        mark = "" if not r["bounded"] else "  (bounded memory)"
        say(f"{r['indicator']:22s} {r['talib_ms']:10.2f} {r['ours_ms']:9.2f} {r['ratio']:6.2f} "
            f"{r['max_abs_diff']:10.2e} {r['max_abs_diff_definition']:10.2e}{mark}")
    say(f"{'total':22s} {1e3 * tot_theirs:10.2f} {1e3 * tot_ours:9.2f} {tot_ours / tot_theirs:6.2f}   (target <= 1x)")
    windowed = [r["max_abs_diff"] for r in rows if not r["bounded"]]
    res["windowed_max_abs_diff"] = max(windowed)
    res["definition_max_abs_diff"] = max(r["max_abs_diff_definition"] for r in rows)
    say(f"max |diff| of the windowed indicators: {max(windowed):.1e}; of every indicator at memory {LONG:g} "
        f"(definition check): {res['definition_max_abs_diff']:.1e}")
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--_memory", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._memory:
        print(json.dumps(memory_probe(args.bars, args.seed)))
        return 0
    res = run(args.bars, args.seed, args.repeats, memory=not args.no_memory)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
