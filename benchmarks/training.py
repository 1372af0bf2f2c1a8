"""Training benchmark: boosting fit time on ~500k rows x the full feature set, and `mlflow run -e train` end to end.

Usage:  python benchmarks/training.py [--rows 500000] [--skip-fit] [--skip-run]

Figures, not tests. Peers measured in the same run: scikit-learn's HistGradientBoostingClassifier (same rows,
same number of rounds, same learning rate and leaves) for the fit times, and `mlflow run . -e pipeline` (the
dataset alone) for the end-to-end train run. Targets (2-core machine): LightGBM and XGBoost fit <= 60 s on 500k
rows; `mlflow run . -e train -P model=lightgbm` start to a registered, loadable model <= 60 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _dataset(rows: int):
    from factory.config import load_pipeline_config
    from factory.data.synth import generate_bars
    from factory.dataset import build_dataset

    cfg = load_pipeline_config()
    n_bars = int(rows / cfg.split.train_frac) + 2 * cfg.split.embargo_bars + 2000
    t0 = time.perf_counter()
    ds = build_dataset(generate_bars(n_bars, seed=3), cfg)
    print(f"dataset: {n_bars:,} bars -> {len(ds.split.train):,} train rows x {ds.features.shape[1]} inputs "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)
    return ds


def bench_fit(rows: int) -> dict[str, float]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from factory.models.config import create_model_from_config

    ds = _dataset(rows)
    X_tr, y_tr = ds.xy("train")
    X_va, y_va = ds.xy("val")
    X_tr, y_tr, w_tr = X_tr.iloc[:rows], y_tr[:rows], ds.weights[ds.split.train][:rows]
    out: dict[str, float] = {"rows": float(len(y_tr)), "features": float(X_tr.shape[1])}
    rounds = {}
    for key in ("lightgbm", "xgboost"):
        model = create_model_from_config(key)
        t0 = time.perf_counter()
        model.fit(X_tr, y_tr, sample_weight=w_tr, eval_set=(X_va, y_va))
        out[f"{key}_fit_s"] = time.perf_counter() - t0
        rounds[key] = int(getattr(model, "best_iteration_", 0) or 0)
        print(f"{key:9s} fit: {out[key + '_fit_s']:6.1f} s  ({rounds[key]} rounds kept; target <= 60 s)", flush=True)
    # Peer: scikit-learn's histogram GBM with LightGBM's round count, learning rate and leaves.
    peer_rounds = max(rounds["lightgbm"], 10)
    hgb = HistGradientBoostingClassifier(max_iter=peer_rounds, learning_rate=0.05, max_leaf_nodes=31,
                                         early_stopping=False, random_state=0)
    t0 = time.perf_counter()
    hgb.fit(X_tr.to_numpy(), y_tr, sample_weight=w_tr)
    out["sklearn_hgb_fit_s"] = time.perf_counter() - t0
    print(f"peer: scikit-learn HistGradientBoosting, {peer_rounds} rounds: {out['sklearn_hgb_fit_s']:.1f} s", flush=True)
    for key in ("lightgbm", "xgboost"):
        print(f"ratio {key} / peer: {out[key + '_fit_s'] / out['sklearn_hgb_fit_s']:.2f}")
    return out


def _timed_mlflow_run(entry: str, extra: list[str], cwd: Path) -> float:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}"}
    t0 = time.perf_counter()
    res = subprocess.run(["mlflow", "run", str(ROOT), "-e", entry, *extra, "--env-manager", "local"],
                         cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"mlflow run -e {entry} failed:\n{res.stderr[-2000:]}")
    return elapsed


def bench_run() -> dict[str, float]:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        pipeline_s = _timed_mlflow_run("pipeline", [], cwd)
        t0 = time.perf_counter()
        train_s = _timed_mlflow_run("train", ["-P", "model=lightgbm"], cwd)
        mlflow.set_tracking_uri(f"sqlite:///{cwd / 'mlflow.db'}")
        model = mlflow.pyfunc.load_model("models:/mes-lightgbm/1")
        loadable_s = time.perf_counter() - t0
        mlflow.set_tracking_uri(None)
        assert model.metadata.metadata["factory_model"] == "lightgbm"
    print(f"mlflow run -e pipeline (peer, dataset only): {pipeline_s:.1f} s")
    print(f"mlflow run -e train -P model=lightgbm: {train_s:.1f} s; to a registered, loaded model: {loadable_s:.1f} s "
          f"(target <= 60 s); ratio to the dataset-only run: {loadable_s / pipeline_s:.2f}")
    return {"pipeline_run_s": pipeline_s, "train_run_s": train_s, "registered_loadable_s": loadable_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--skip-fit", action="store_true")
    ap.add_argument("--skip-run", action="store_true")
    args = ap.parse_args()
    np.seterr(all="ignore")
    if not args.skip_fit:
        bench_fit(args.rows)
    if not args.skip_run:
        bench_run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
