"""Inference-log benchmark: what writing each prediction's log file before the response (sync) costs a request.

Usage:  python benchmarks/inference_log.py [--model-uri models:/mes-lightgbm@champion] [--requests 600]
                                           [--rounds 6] [--concurrency 8] [--modes off,sync,async,sync+fsync]

A LightGBM model is trained with the default pipeline and model settings on synthetic bars into a temporary
tracking store (or taken from ``--model-uri``), then one real ``mlflow models serve`` per mode is started on
127.0.0.1 (one worker each, all at once): ``off`` (no ``FACTORY_INFERENCE_LOG``), ``sync`` (the default),
``async`` (``FACTORY_INFERENCE_LOG_MODE=async``) and ``sync+fsync`` (``FACTORY_INFERENCE_LOG_FSYNC=1``). Each
request is the model's ``min_bars`` bars with ``last_only`` (one predicted row, the default feature set).

* latency: ``--requests`` sequential requests per server on one keep-alive connection, sent in ``--rounds``
  rounds that take turns between the servers (so a burst of load on a shared machine hits every mode alike);
  p50, p99 and mean, and the server's CPU time per request (from ``/proc``: it moves far less than wall time
  when other work shares the machine; async spends its writing CPU too, only off the request's path);
* throughput: 400 requests over ``--concurrency`` threads per server, requests per second;
* in process: the time one synchronous ``InferenceLog.append`` of such a prediction takes (the part of a sync
  request that the log adds), with and without fsync.

Figures only; the exit code is 1 when any request was not answered 200.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._measure import burst  # noqa: E402

MODES = {
    "off": {},
    "sync": {"FACTORY_INFERENCE_LOG_MODE": "sync"},
    "async": {"FACTORY_INFERENCE_LOG_MODE": "async"},
    "sync+fsync": {"FACTORY_INFERENCE_LOG_MODE": "sync", "FACTORY_INFERENCE_LOG_FSYNC": "1"},
}
THROUGHPUT_REQUESTS = 400


def latencies(server, body: bytes, n: int, cpu: list[float] | None = None) -> list[float]:
    """``n`` sequential request times; adds the server's CPU seconds over them to ``cpu[0]``."""
    from benchmarks.serving import group_cpu_seconds

    conn = server.connection()
    out = []
    cpu0 = group_cpu_seconds(server.proc.pid)
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            status, _ = server.post_raw(body, conn=conn)
            out.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"request answered {status}")
    finally:
        conn.close()
    cpu1 = group_cpu_seconds(server.proc.pid)
    if cpu is not None:
        cpu[0] += (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else float("nan")
    return out


def append_times(n_features: int, folder: Path, fsync: bool, n: int = 300) -> np.ndarray:
    """Seconds per synchronous append of one predicted row of ``n_features`` float32 inputs."""
    import uuid

    from serving.inference_log import OUTPUT_NAMES, InferenceLog

    log = InferenceLog(folder, [f"f{i}" for i in range(n_features)], fsync=fsync)
    rng = np.random.default_rng(0)
    out = {k: rng.random(1) for k in OUTPUT_NAMES}
    out["signal"] = np.ones(1, dtype=np.int64)
    times = []
    for i in range(n + 20):
        inputs = rng.random((1, n_features)).astype(np.float32)
        t0 = time.perf_counter()
        log.append(time.time_ns() // 1000, uuid.uuid4().hex, np.array([i], dtype=np.int64), inputs, out)
        times.append(time.perf_counter() - t0)
    return np.asarray(times[20:])


def throughput(server, body: bytes, total: int, concurrency: int) -> tuple[float, int]:
    seconds, failures = burst(server, body, total, concurrency)
    return total / seconds, failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-uri", default=None, help="serve this registered model instead of training one")
    ap.add_argument("--bars", type=int, default=30_000, help="synthetic bars to train on")
    ap.add_argument("--requests", type=int, default=600, help="sequential latency requests per mode")
    ap.add_argument("--rounds", type=int, default=6, help="turns the latency requests are split into")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        ap.error(f"unknown mode(s) {unknown}; use {', '.join(MODES)}")
    if args.json:
        args.json = str(Path(args.json).resolve())

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="bench-inference-log-") as tmp:
        work = Path(tmp)
        import mlflow

        from benchmarks._measure import loadavg
        from factory.data.synth import generate_bars
        from serving.client import bars_payload
        from serving.local_server import LocalScoringServer

        bars = generate_bars(args.bars, seed=9)
        if args.model_uri:
            uri, cwd = args.model_uri, Path.cwd()
            env = {k: v for k, v in os.environ.items() if k == "MLFLOW_TRACKING_URI"}
        else:
            from factory.jobs.train import run_train

            cwd = work
            os.chdir(work)  # a SQLite store keeps its artifacts under ./mlruns
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
            mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
            env = {"MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"]}
            bars.to_parquet(work / "bars.parquet")
            t0 = time.perf_counter()
            uri = run_train("lightgbm", data=str(work / "bars.parquet"), progress=False,
                            echo=lambda *a, **k: None).model_uri
            print(f"trained lightgbm in {time.perf_counter() - t0:.0f} s -> {uri}", flush=True)
        meta = mlflow.pyfunc.load_model(uri).metadata.metadata
        window = int(meta["min_bars"])
        body = json.dumps(bars_payload(bars.iloc[-window:], "dataframe_split", last_only=True)).encode()
        print(f"requests of {window} bars, last_only, {len(meta['feature_names'])} model inputs", flush=True)

        servers = {}
        for m in modes:
            extra = {} if m == "off" else {"FACTORY_INFERENCE_LOG": str(work / f"log-{m.replace('+', '-')}")}
            servers[m] = LocalScoringServer(uri, env={**env, **extra, **MODES[m]}, cwd=cwd)
        try:
            for s in servers.values():
                s.start()
            for s in servers.values():
                s.wait_ready()
            for s in servers.values():
                latencies(s, body, 30)  # warm caches and connections
            lat = {m: [] for m in modes}
            cpu = {m: [0.0] for m in modes}
            per_round = max(1, args.requests // args.rounds)
            for _ in range(args.rounds):
                for m, s in servers.items():
                    lat[m] += latencies(s, body, per_round, cpu[m])
            rows = {}
            for m, s in servers.items():
                rps, failed = throughput(s, body, THROUGHPUT_REQUESTS, args.concurrency)
                ms = np.asarray(lat[m]) * 1e3
                rows[m] = {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                           "mean_ms": float(ms.mean()), "cpu_ms": cpu[m][0] * 1e3 / len(ms), "rps": rps,
                           "non_200": int(failed), "requests": len(ms)}
        finally:
            for s in servers.values():
                s.stop()
        appends = {}
        for fsync in (False, True):
            ms = append_times(len(meta["feature_names"]), work / f"append-{fsync}", fsync) * 1e3
            appends["sync+fsync" if fsync else "sync"] = {"p50_ms": float(np.percentile(ms, 50)),
                                                          "p99_ms": float(np.percentile(ms, 99))}
        base = rows.get("off")
        print(f"\n{'inference log':<14}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'p50 - off':>11}{'cpu ms':>8}"
              f"{'req/s':>8}{'non-200':>9}")
        for m, r in rows.items():
            delta = f"{r['p50_ms'] - base['p50_ms']:>+11.2f}" if base else ""
            print(f"{m:<14}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['mean_ms']:>9.2f}{delta}{r['cpu_ms']:>8.2f}"
                  f"{r['rps']:>8.0f}{r['non_200']:>9d}")
        for m, r in appends.items():
            print(f"in process, one {m} append: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms")
        rows["append"] = appends
        print(f"\n{rows[modes[0]]['requests']} sequential requests per mode in {args.rounds} rounds; throughput: "
              f"{THROUGHPUT_REQUESTS} requests at concurrency {args.concurrency}; load average {loadavg()}")
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2))
    return 1 if any(r.get("non_200") for r in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
