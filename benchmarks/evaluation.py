"""Evaluation benchmark: the backtest on 1M bars, PBO over 1,000 trials, DSR, and CPCV splits, against plain peers.

Usage:  python benchmarks/evaluation.py [--bars 1000000] [--trials 1000] [--periods 2000] [--partitions 16]
                                        [--repeat 3] [--json FILE]

Measured in this run (best of ``--repeat`` after one untimed call, one process):

* backtest: :func:`factory.evaluation.backtest.backtest` over ``--bars`` synthetic 1-minute bars
  (:func:`factory.data.synth.generate_bars`) with a signal that changes about every 20 bars (random, long / flat /
  short), the default rules (next-open fills, the labels' 2 x ATR barriers, horizon 30), MES costs: trades, P&L,
  equity, every metric. Peer, same data: the bar-by-bar P&L alone as a vectorised NumPy expression of the same
  trades (close-to-close moves of the positions held at each close, corrected at entries and exits, minus costs),
  i.e. the least any backtest must do; the two P&L series are checked equal. Target: <= 2 s;
* PBO: :func:`factory.validation.stats.probability_of_backtest_overfitting` on a ``--periods`` x ``--trials``
  matrix of noise returns, ``--partitions`` blocks (``C(S, S/2)`` combinations). Peer, same matrix: a direct
  loop over the combinations that computes every column's Sharpe from the raw rows (the textbook CSCV), run on
  the first 500 combinations and scaled; both PBO values are printed (noise: about 0.5);
* DSR: :func:`factory.validation.stats.deflated_sharpe_ratio` for the best of ``--trials`` Sharpe ratios;
* CPCV: :class:`factory.validation.cpcv.CombinatorialPurgedCV` (6 groups, 2 test groups, the default purge and
  embargo) splits and paths over the labels of the default pipeline on 100,000 bars.

* leaderboard (``--leaderboard-models``, default ``logistic,lightgbm,xgboost``; ``none`` skips it): the wall time
  of ``factory evaluate --models ...`` on the default data (100,000 bars, default model settings) with
  ``--groups`` x ``--test-groups`` CPCV (default 4 x 2: 6 splits, 3 paths), in a fresh process
  (``/usr/bin/time``-style: the whole command, dataset build and MLflow logging included, into a temporary
  tracking store). Peer, same data and settings: one chronological ``fit_bundle`` + test ``evaluate`` per model
  (what ``-e train`` fits), timed in this process; the ratio against ``n_splits`` such fits is the leaderboard's
  overhead (per-split refits of scaling and HMM, paths, plots, runs) over the fits it cannot avoid.

Figures, not tests: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import combinations
from math import comb
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PEER_COMBINATIONS = 500


def best_of(fn, repeat: int) -> tuple[float, object]:
    out = fn()  # untimed: imports, numba compilation, caches
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def random_signal(n: int, every: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    changes = rng.integers(-1, 2, n // every + 1)
    return np.repeat(changes, every)[:n]


def peer_pnl(close: np.ndarray, trades, point_value: float, cost: float) -> np.ndarray:
    """The bar-by-bar P&L of the backtest's own trades as one vectorised expression (positions from the trade
    table, so only the P&L arithmetic is compared, not the trade rules)."""
    n = len(close)
    e, x = trades["entry_row"].to_numpy(), trades["exit_row"].to_numpy()
    sq = trades["side"].to_numpy() * trades["contracts"].to_numpy()
    delta = np.zeros(n + 1)
    np.add.at(delta, e, sq)  # held at the closes of bars e .. x - 1
    np.add.at(delta, x, -sq)
    at_close = np.cumsum(delta)[:n]
    pnl = np.zeros(n)
    pnl[1:] = at_close[:-1] * np.diff(close)
    np.add.at(pnl, e, sq * (close[e] - trades["entry_price"].to_numpy()))  # fill to the entry bar's close
    np.add.at(pnl, x, sq * (trades["exit_price"].to_numpy() - close[x]))  # the exit replaces the last close
    pnl *= point_value
    np.subtract.at(pnl, e, trades["contracts"].to_numpy() * cost)
    return pnl


def peer_pbo(perf: np.ndarray, n_partitions: int, limit: int) -> tuple[float, int]:
    """Textbook CSCV over the first ``limit`` combinations: each half's Sharpe from its raw rows."""
    blocks = np.array_split(np.arange(len(perf)), n_partitions)
    logits = []
    for k, chosen in enumerate(combinations(range(n_partitions), n_partitions // 2)):
        if k >= limit:
            break
        is_rows = np.concatenate([blocks[i] for i in chosen])
        oos_rows = np.concatenate([blocks[i] for i in range(n_partitions) if i not in chosen])
        is_sr = perf[is_rows].mean(0) / perf[is_rows].std(0, ddof=1)
        oos_sr = perf[oos_rows].mean(0) / perf[oos_rows].std(0, ddof=1)
        best = int(np.argmax(is_sr))
        rank = (oos_sr < oos_sr[best]).sum() + 0.5 * ((oos_sr == oos_sr[best]).sum() - 1) + 1
        w = rank / (perf.shape[1] + 1)
        logits.append(np.log(w / (1 - w)))
    return float(np.mean(np.asarray(logits) <= 0)), len(logits)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--periods", type=int, default=2000)
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--leaderboard-models", default="logistic,lightgbm,xgboost")
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--test-groups", type=int, default=2)
    args = ap.parse_args()

    from factory.contracts import get_contract
    from factory.data.synth import generate_bars
    from factory.evaluation.backtest import backtest
    from factory.labels.barriers import BarrierDefinition
    from factory.validation.stats import deflated_sharpe_ratio, probability_of_backtest_overfitting

    res: dict = {}
    print(f"generating {args.bars:,} bars ...", flush=True)
    bars = generate_bars(args.bars, seed=7)
    close = bars["close"].to_numpy()
    signal = random_signal(args.bars)
    cm = get_contract("MES").cost_model()

    offsets = BarrierDefinition(2.0, 2.0, 30, 14, cm.round_trip_points).offsets(bars)
    t_bt, bt = best_of(lambda: backtest(bars, signal, 30, cm, barriers=offsets), args.repeat)
    t_peer, pnl = best_of(lambda: peer_pnl(close, bt.trades, float(cm.point_value), float(cm.round_trip_usd)),
                          args.repeat)
    agree = float(np.max(np.abs(pnl - bt.pnl)))
    res["backtest"] = {"seconds": t_bt, "trades": int(bt.metrics["n_trades"]), "peer_pnl_seconds": t_peer,
                       "max_abs_pnl_diff": agree}
    print(f"\nbacktest, {args.bars:,} bars, {int(bt.metrics['n_trades']):,} trades: {t_bt:.3f} s (target <= 2 s); "
          f"peer (vectorised P&L of the same trades only) {t_peer:.3f} s, ratio {t_bt / t_peer:.1f}x; "
          f"P&L agree to {agree:.1e} USD")

    perf = np.random.default_rng(1).standard_normal((args.periods, args.trials)) * 1e-3
    t_pbo, pbo = best_of(lambda: probability_of_backtest_overfitting(perf, args.partitions), args.repeat)
    n_comb = comb(args.partitions, args.partitions // 2)
    t0 = time.perf_counter()
    peer_value, done = peer_pbo(perf, args.partitions, PEER_COMBINATIONS)
    t_peer_pbo = (time.perf_counter() - t0) * n_comb / done
    res["pbo"] = {"seconds": t_pbo, "pbo": pbo.pbo, "combinations": n_comb, "peer_seconds_scaled": t_peer_pbo,
                  "peer_pbo_first_combinations": peer_value}
    print(f"PBO, {args.periods:,} periods x {args.trials:,} trials, {n_comb:,} combinations: {t_pbo:.3f} s "
          f"(PBO {pbo.pbo:.3f}; noise gives ~0.5); peer (textbook CSCV, {done} combinations timed, scaled) "
          f"{t_peer_pbo:.1f} s, ratio {t_peer_pbo / t_pbo:.0f}x faster (its PBO on those {done}: {peer_value:.3f})")

    sr = perf.mean(0) / perf.std(0, ddof=1)
    t_dsr, dsr = best_of(lambda: deflated_sharpe_ratio(float(sr.max()), args.periods, args.trials,
                                                       float(sr.var(ddof=1))), args.repeat)
    res["dsr"] = {"seconds": t_dsr, "dsr": dsr}
    print(f"DSR of the best of {args.trials:,} noise Sharpe ratios: {dsr:.3f} (far below 0.95: no edge survives "
          f"{args.trials:,} tries), {1e6 * t_dsr:.0f} us")

    from factory.config import load_pipeline_config
    from factory.dataset import build_dataset
    from factory.validation.cpcv import CombinatorialPurgedCV

    print("\nbuilding the default dataset on 100,000 bars for the CPCV splits ...", flush=True)
    ds = build_dataset(generate_bars(100_000, seed=7), load_pipeline_config(), progress=False)
    rows = ds.sample_rows
    t1 = ds.labels["t1"].to_numpy()[rows]

    def splits():
        cv = CombinatorialPurgedCV(t0=rows, t1=t1, feature_warmup=ds.input_lookback,
                                   embargo_bars=ds.config.split.embargo_bars)
        return cv, list(cv.split(rows))

    t_cv, (cv, folds) = best_of(splits, args.repeat)
    res["cpcv"] = {"seconds": t_cv, "splits": len(folds), "paths": cv.n_paths, "samples": int(len(rows))}
    print(f"CPCV (6 groups, 2 test groups): {len(folds)} splits, {cv.n_paths} paths over {len(rows):,} samples "
          f"in {1e3 * t_cv:.0f} ms")
    if args.leaderboard_models.strip().lower() != "none":
        res["leaderboard"] = leaderboard(args.leaderboard_models, args.groups, args.test_groups)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=float))
    return 0


def leaderboard(models: str, groups: int, test_groups: int) -> dict:
    """The evaluate command's wall time in a fresh process, against one chronological fit per model here."""
    import subprocess
    import tempfile
    import warnings
    from math import comb

    from factory.data.default import default_bars
    from factory.dataset import build_dataset
    from factory.fitting import evaluate_part, fit_bundle
    from factory.models import create_model
    from factory.train_config import load_train_config

    # The leaderboard's dataset: the default data and pipeline, barrier tuning off (as the evaluate job runs it).
    pc = load_train_config("logistic").pipeline
    pc = pc.model_copy(update={"labels": pc.labels.model_copy(update={
        "tuning": pc.labels.tuning.model_copy(update={"enabled": False})})})
    print("\nbuilding the default dataset (barrier tuning off) for the peer fits ...", flush=True)
    ds = build_dataset(default_bars(), pc, progress=False)

    keys = [k.strip() for k in models.split(",") if k.strip()]
    fits = {}
    for key in keys:
        tc = load_train_config(key)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bundle = fit_bundle(ds, create_model(key, **tc.model.model_dump(mode="json")), training=tc.training)
            evaluate_part(ds, bundle, "test")
        fits[key] = time.perf_counter() - t0
        print(f"peer: one chronological fit + test evaluation of {key}: {fits[key]:.1f} s", flush=True)
    n_splits = comb(groups, test_groups)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**__import__("os").environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
               "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
        cmd = [sys.executable, "-m", "factory.cli", "evaluate", "--models", ",".join(keys), "--groups", str(groups),
               "--test-groups", str(test_groups), "--quiet"]
        print(f"\nleaderboard: {' '.join(cmd[2:])} ...", flush=True)
        t0 = time.perf_counter()
        out = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if out.returncode != 0:
        print(out.stderr[-2000:])
        raise SystemExit(f"evaluate failed with exit code {out.returncode}")
    print(out.stdout.strip())
    peer = n_splits * sum(fits.values())
    from benchmarks._measure import loadavg

    print(f"leaderboard of {', '.join(keys)} ({groups} groups, {test_groups} test groups: {n_splits} splits) on "
          f"100,000 bars: {wall:.0f} s wall; peer ({n_splits} x one fit + test evaluation per model) "
          f"{peer:.0f} s, ratio {wall / peer:.2f}x (load average after: {loadavg()})")
    return {"seconds": wall, "models": keys, "splits": n_splits, "peer_seconds": peer, "fit_seconds": fits,
            "loadavg": loadavg()}


if __name__ == "__main__":
    sys.exit(main())
