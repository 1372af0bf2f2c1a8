"""Serving benchmark: `mlflow models serve` latency and throughput of each model key, against MLflow peers.

Usage:  python benchmarks/serving.py [--keys lightgbm,voting] [--model-uri models:/mes-lightgbm@champion]
                                     [--requests 2000] [--concurrency 16] [--latency-requests 300] [--no-log]

For each key the model is trained with the default pipeline and model settings (or ``--config``) on synthetic
bars into a temporary tracking store, or taken from ``--model-uri``; then the real scoring server is started on
127.0.0.1 (``--env-manager local``, one worker, the inference log on unless ``--log off``; ``--log both``
measures each key both ways) and measured with requests of exactly the model's ``min_bars`` bars (the shortest
request a client can send, and the one whose answer equals training's; ``--window`` overrides):

* latency: ``--latency-requests`` sequential one-prediction requests (``last_only``) on one keep-alive
  connection, p50 and p99, and the server's CPU time per request (from ``/proc``: on a shared machine it moves
  far less than wall time);
* throughput: ``--requests`` requests spread over ``--concurrency`` threads, requests per second, and the count
  of non-2xx answers (must be 0).

Peers measured in the same run, same protocol: MLflow's bare LightGBM flavor (``mlflow.lightgbm.log_model`` of
the same trees) answering one row of precomputed features, and a pyfunc that does nothing with the factory's
signature answering the same request (MLflow's own floor: JSON, schema enforcement, HTTP). Targets: LightGBM p50
within 2x the floor's and p99 <= 25 ms. Nothing here is a pass/fail test except the non-2xx count (exit code 1
when any request failed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_KEYS = ("lightgbm", "xgboost", "logistic", "voting", "stacking")
TRIVIAL_MODEL = '''
import mlflow
import pandas as pd


class Nothing(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return pd.DataFrame({"timestamp": [str(model_input["timestamp"].iloc[-1])], "prob_up": [1.0]})


mlflow.models.set_model(Nothing())
'''


# ----------------------------------------------------------------------------------------------------- load
def group_cpu_seconds(pgid: int) -> float | None:
    """CPU time (user + system) used so far by every process of group ``pgid`` (Linux ``/proc``), else None."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, seen = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the command: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])
            seen = True
    return total / tick if seen else None


def measure(server, body: bytes, latency_requests: int, total: int, concurrency: int) -> dict[str, float]:
    """Sequential latency, then throughput under ``concurrency`` threads (every loop is bounded)."""
    conn = server.connection()
    lat = []
    cpu0 = None
    for i in range(latency_requests + 20):
        if i == 20:
            cpu0 = group_cpu_seconds(server.proc.pid)
        t0 = time.perf_counter()
        status, _ = server.post_raw(body, conn=conn)
        if i >= 20:  # the first requests warm caches and the connection
            lat.append(time.perf_counter() - t0)
        if status != 200:
            raise RuntimeError(f"latency request answered {status}")
    conn.close()
    cpu1 = group_cpu_seconds(server.proc.pid)
    # Server CPU per request is far less sensitive than wall time to other work on the machine.
    cpu_ms = (cpu1 - cpu0) * 1e3 / latency_requests if cpu0 is not None and cpu1 is not None else float("nan")

    failures = [0] * concurrency
    share = [total // concurrency + (1 if t < total % concurrency else 0) for t in range(concurrency)]

    def worker(t: int) -> None:
        c = server.connection()
        for _ in range(share[t]):
            try:
                status, _ = server.post_raw(body, conn=c)
            except OSError:
                status = 0
                c.close()
                c = server.connection()
            if not 200 <= status < 300:
                failures[t] += 1
        c.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(concurrency)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    ms = np.asarray(lat) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "cpu_ms": cpu_ms,
            "rps": total / wall, "non_2xx": int(sum(failures)), "requests": total}


def serve_and_measure(uri: str, body: bytes, env: dict[str, str], cwd: Path, args) -> dict[str, float]:
    from serving.local_server import LocalScoringServer

    t0 = time.perf_counter()
    with LocalScoringServer(uri, env=env, cwd=cwd) as server:
        started = time.perf_counter() - t0
        out = measure(server, body, args.latency_requests, args.requests, args.concurrency)
    out["startup_s"] = started
    return out


# ----------------------------------------------------------------------------------------------------- models
def train(key: str, data: Path, config: str | None) -> str:
    from factory.jobs.train import run_train

    t0 = time.perf_counter()
    res = run_train(key, data=str(data), config_file=config, progress=False, echo=lambda *a, **k: None)
    print(f"  trained {key} in {time.perf_counter() - t0:.1f} s -> {res.model_uri}", flush=True)
    return res.model_uri


def window_request(bars, n_bars: int) -> bytes:
    from serving.client import bars_payload

    return json.dumps(bars_payload(bars.iloc[-n_bars:], "dataframe_split", last_only=True)).encode()


def bare_lightgbm_peer(model_uri: str, bars, n_bars: int, workdir: Path) -> tuple[str, bytes]:
    """The same LightGBM trees saved with MLflow's own flavor; the request is the last bar's model inputs."""
    import mlflow
    from mlflow.models import infer_signature

    from serving.input_checks import check_bars_input

    bundle = mlflow.pyfunc.load_model(model_uri).unwrap_python_model().bundle
    window = check_bars_input(bars.iloc[-n_bars:], bundle.min_bars)
    row = bundle.model_inputs(window).iloc[[-1]].astype(np.float64).reset_index(drop=True)
    booster = bundle.model.booster_
    path = workdir / "bare_lightgbm"
    mlflow.lightgbm.save_model(booster, str(path), signature=infer_signature(row, booster.predict(row.to_numpy())))
    body = {"dataframe_split": row.to_dict(orient="split", index=False)}
    return str(path), json.dumps(body).encode()


def trivial_peer(workdir: Path) -> str:
    """A models-from-code pyfunc that does no work, with the factory's signature."""
    import mlflow

    from factory.packaging.schema import model_signature

    code = workdir / "nothing_model.py"
    code.write_text(TRIVIAL_MODEL)
    path = workdir / "trivial_pyfunc"
    mlflow.pyfunc.save_model(str(path), python_model=str(code), signature=model_signature())
    return str(path)


# ----------------------------------------------------------------------------------------------------- report
def report(rows: dict[str, dict[str, float]], peer: str | None, floor: str | None) -> None:
    print(f"\n{'server':<30}{'p50 ms':>9}{'p99 ms':>9}{'cpu ms':>9}{'req/s':>9}{'non-2xx':>9}{'p50 / floor':>13}"
          f"{'p50 / peer':>12}{'rps / peer':>12}")
    base = rows.get(peer) if peer else None
    low = rows.get(floor) if floor else None
    for name, r in rows.items():
        vs_floor = f"{r['p50_ms'] / low['p50_ms']:>13.2f}" if low else ""
        ratio = (f"{r['p50_ms'] / base['p50_ms']:>12.2f}{r['rps'] / base['rps']:>12.2f}" if base else "")
        print(f"{name:<30}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['cpu_ms']:>9.2f}{r['rps']:>9.0f}"
              f"{r['non_2xx']:>9d}{vs_floor}{ratio}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", default=",".join(DEFAULT_KEYS), help="model keys to train and serve")
    ap.add_argument("--model-uri", default=None, help="serve this registered model instead of training")
    ap.add_argument("--config", default=None, help="train config (default: the pipeline's and models' defaults)")
    ap.add_argument("--bars", type=int, default=30_000, help="synthetic bars to train on")
    ap.add_argument("--window", type=int, default=0, help="bars per request (default: the model's min_bars)")
    ap.add_argument("--latency-requests", type=int, default=300)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--log", choices=("on", "off", "both"), default="on",
                    help="serve with FACTORY_INFERENCE_LOG set (on), without it (off), or measure both")
    ap.add_argument("--no-peers", action="store_true", help="skip the MLflow peers")
    ap.add_argument("--json", default=None, help="also write all figures to this JSON file")
    args = ap.parse_args()
    if args.json:
        args.json = str(Path(args.json).resolve())  # the run works in a temporary folder

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        import mlflow

        if args.model_uri:
            # The caller's registry: MLFLOW_TRACKING_URI or MLflow's default store in the current folder.
            cwd = Path.cwd()
            env = {k: v for k, v in os.environ.items() if k == "MLFLOW_TRACKING_URI"}
        else:
            cwd = work
            # A SQLite store keeps its artifacts under ./mlruns of the working folder: work in the temporary one.
            os.chdir(work)
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
            mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
            env = {"MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"]}
        from factory.data.synth import generate_bars

        bars = generate_bars(args.bars, seed=9)
        data = work / "bars.parquet"
        bars.to_parquet(data)
        log_env = {**env, "FACTORY_INFERENCE_LOG": str(work / "inference_log")}
        modes = {"on": ("on",), "off": ("off",), "both": ("on", "off")}[args.log]
        uris = {args.model_uri: args.model_uri} if args.model_uri else {
            k.strip(): None for k in args.keys.split(",") if k.strip()}
        for key in uris:
            uris[key] = uris[key] or train(key, data, args.config)
        # Every request holds exactly the largest min_bars of the models served (the same body for all).
        window = args.window or max(int(mlflow.pyfunc.load_model(u).metadata.metadata["min_bars"])
                                    for u in uris.values())
        body = window_request(bars, window)
        print(f"requests of {window} bars ({len(body) / 1024:.0f} KiB of JSON)", flush=True)
        rows: dict[str, dict[str, float]] = {}
        for key, uri in uris.items():
            for mode in modes:
                print(f"serving {key} ({uri}), inference log {mode} ...", flush=True)
                name = f"factory {key}" + (f" (log {mode})" if len(modes) > 1 else "")
                rows[name] = serve_and_measure(uri, body, log_env if mode == "on" else env, cwd, args)
        peer = floor = None
        lgb_uri = next((u for k, u in uris.items() if "lightgbm" in str(k)), None)
        if not args.no_peers:
            # Peers are saved to local folders: nothing is added to the registry.
            print("serving the peers ...", flush=True)
            floor = "mlflow trivial pyfunc"
            rows[floor] = serve_and_measure(trivial_peer(work), body, env, cwd, args)
            if lgb_uri:
                peer_uri, peer_body = bare_lightgbm_peer(lgb_uri, bars, window, work)
                rows["mlflow bare lightgbm"] = serve_and_measure(peer_uri, peer_body, env, cwd, args)
                peer = "mlflow bare lightgbm"
        report(rows, peer, floor)
        print(f"\ninference log: {args.log}; requests of {window} bars, last_only; "
              f"{args.requests} requests at concurrency {args.concurrency}")
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2))
    return 1 if any(r["non_2xx"] for r in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
