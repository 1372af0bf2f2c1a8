"""Serving benchmark: `mlflow models serve` latency and throughput of each model key, against MLflow peers.

Usage:  python benchmarks/serving.py [--keys lightgbm,voting] [--model-uri models:/mes-lightgbm@champion]
                                     [--requests 2000] [--concurrency 16] [--latency-requests 300] [--no-log]
        python benchmarks/serving.py --front [--quick]     # factory serve beside mlflow models serve

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

``--front`` compares ``factory serve`` with ``mlflow models serve`` on the same model (LightGBM unless ``--keys`` /
``--model-uri`` say otherwise), one worker each: p50/p99 of sequential requests, requests/s and non-2xx at
concurrency 16 and 64, then the malformed requests of the README (5xx counted) and one 50 MB request, during which
the RSS of the server's process tree is sampled (peak over the idle server); ``--rounds`` (2) repeats the
measurement, the order alternating. Target: ``factory serve``'s p50 within
1.1x of ``mlflow models serve``'s. ``--quick`` shrinks the request counts.
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

# Bound now: loading a logged model puts its own copy of `serving` first on the import path.
from serving.local_server import LocalScoringServer  # noqa: E402
from benchmarks._measure import burst  # noqa: E402

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

    wall, failures = burst(server, body, total, concurrency)
    ms = np.asarray(lat) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "cpu_ms": cpu_ms,
            "rps": total / wall, "non_2xx": int(failures), "requests": total}


def serve_and_measure(uri: str, body: bytes, env: dict[str, str], cwd: Path, args) -> dict[str, float]:
    t0 = time.perf_counter()
    with LocalScoringServer(uri, env=env, cwd=cwd) as server:
        started = time.perf_counter() - t0
        out = measure(server, body, args.latency_requests, args.requests, args.concurrency)
    out["startup_s"] = started
    return out


# ----------------------------------------------------------------------------------------------------- front
def group_rss(pgid: int) -> int:
    """Resident memory (bytes) of every process of group ``pgid``: the server and its workers (Linux ``/proc``)."""
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                total += int((stat.parent / "statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


def malformed_requests(bars, body: bytes) -> dict[str, tuple[bytes, str | None]]:
    """The probe's bad requests (and two good ones in other forms), as (body, content type)."""
    from serving.client import bars_payload

    split = bars_payload(bars, last_only=None)["dataframe_split"]
    dup = {**split, "columns": [*split["columns"][:-1], "close"]}
    unknown = bars_payload(bars, last_only=True)
    unknown["params"]["foo"] = 1
    frame = bars.copy()
    frame["timestamp"] = [t.isoformat() for t in frame["timestamp"]]
    n = 1_000_000
    wide = json.dumps({"dataframe_split": {"columns": [f"c{i}" for i in range(n)], "data": [[0] * n]}})
    deep = b"[" * 100_000 + b"]" * 100_000
    return {"no Content-Type": (body, None), "nested 100,000 deep": (deep, "application/json"),
            "duplicate columns": (json.dumps({"dataframe_split": dup}).encode(), "application/json"),
            "unknown param": (json.dumps(unknown).encode(), "application/json"),
            "text/csv": (frame.to_csv(index=False).encode(), "text/csv"),
            "1e6 columns": (wide.encode(), "application/json")}


def big_request(bars, mb: float = 50.0) -> bytes:
    """A ``dataframe_split`` body of about ``mb`` MB: the request window repeated."""
    from serving.client import bars_payload

    rows = bars_payload(bars, last_only=None)["dataframe_split"]
    one = len(json.dumps(rows["data"][0])) + 2
    data = rows["data"] * max(1, int(mb * 2**20 / one / len(rows["data"])) + 1)
    return json.dumps({"dataframe_split": {"columns": rows["columns"], "data": data}}).encode()


def probe_front(server, bars, body: bytes, big: bytes) -> dict:
    """Malformed requests (status, seconds, answer size) and the 50 MB request's peak tree RSS."""
    out: dict = {"probe": {}}
    for name, (raw, ctype) in malformed_requests(bars, body).items():
        t0 = time.perf_counter()
        try:
            status, answer = server.post_raw(raw, content_type=ctype)
        except OSError:
            status, answer = 0, b""
        out["probe"][name] = {"status": status, "s": time.perf_counter() - t0, "bytes": len(answer)}
    time.sleep(1.0)
    idle = group_rss(server.proc.pid)
    peak = [idle]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], group_rss(server.proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.perf_counter()
    try:
        status, answer = server.post_raw(big)
    except OSError:
        status, answer = 0, b""
    took = time.perf_counter() - t0
    time.sleep(0.3)
    done.set()
    sampler.join()
    out["big"] = {"status": status, "s": took, "bytes": len(answer), "mb": len(big) / 2**20,
                  "rss_idle_mb": idle / 2**20, "rss_peak_extra_mb": (peak[0] - idle) / 2**20}
    status, _ = server.post_raw(body)
    out["good_after"] = status
    return out


def compare_front(uri: str, bars, body: bytes, env: dict[str, str], cwd: Path, args) -> int:
    """``--rounds`` rounds, the order alternating (ABBA) so drifting machine load hits both servers alike."""
    big = big_request(bars)
    servers = [("mlflow models serve", False), ("factory serve", True)]
    runs: dict[str, list[dict]] = {name: [] for name, _ in servers}
    probes: dict[str, dict] = {}
    for rnd in range(args.rounds):
        for name, front in (servers if rnd % 2 == 0 else servers[::-1]):
            print(f"round {rnd + 1}: serving {uri} with {name} ...", flush=True)
            with LocalScoringServer(uri, env=env, cwd=cwd, front=front, workers=1) as server:
                runs[name].append({f"c{c}": measure(server, body, args.latency_requests, args.requests, c)
                                   for c in (16, 64)})
                if name not in probes:
                    probes[name] = probe_front(server, bars, body, big)

    def med(name: str, key: str, cs=("c16", "c64")) -> float:
        return float(np.median([run[c][key] for run in runs[name] for c in cs]))

    print(f"\n{'server':<22}{'p50 ms':>8}{'p99 ms':>8}{'cpu ms':>8}{'rps c16':>9}{'rps c64':>9}{'non-2xx':>9}"
          f"{'probe 5xx':>10}{'50MB: status':>14}{'s':>7}{'+RSS MB':>9}")
    fivexx = {}
    for name in runs:
        pr = probes[name]
        non2xx = sum(run[c]["non_2xx"] for run in runs[name] for c in ("c16", "c64"))
        fivexx[name] = sum(1 for p in [*pr["probe"].values(), pr["big"]] if p["status"] >= 500 or p["status"] == 0)
        print(f"{name:<22}{med(name, 'p50_ms'):>8.2f}{med(name, 'p99_ms'):>8.2f}{med(name, 'cpu_ms'):>8.2f}"
              f"{med(name, 'rps', ('c16',)):>9.1f}{med(name, 'rps', ('c64',)):>9.1f}{non2xx:>9d}{fivexx[name]:>10d}"
              f"{pr['big']['status']:>14d}{pr['big']['s']:>7.2f}{pr['big']['rss_peak_extra_mb']:>9.0f}")
    base, ours = runs["mlflow models serve"], runs["factory serve"]

    def ratio(key: str, cs=("c16", "c64")) -> float:
        return float(np.median([o[c][key] / b[c][key] for o, b in zip(ours, base) for c in cs]))

    print(f"\nfactory serve / mlflow models serve (median of paired runs): p50 {ratio('p50_ms'):.3f}x, "
          f"p99 {ratio('p99_ms'):.3f}x, server CPU per request {ratio('cpu_ms'):.3f}x, "
          f"req/s c16 {ratio('rps', ('c16',)):.2f}x, c64 {ratio('rps', ('c64',)):.2f}x")
    print(f"requests of {len(body) / 1024:.0f} KiB; {args.latency_requests} sequential requests before each of "
          f"{args.requests} at concurrency 16 and 64; {args.rounds} round(s); one uvicorn worker each")
    print("malformed requests (status, seconds, answer bytes):")
    for case in probes["mlflow models serve"]["probe"]:
        a, b = probes["mlflow models serve"]["probe"][case], probes["factory serve"]["probe"][case]
        print(f"  {case:<22} mlflow {a['status']} {a['s']:.2f} s {a['bytes']:,} B | "
              f"factory {b['status']} {b['s']:.2f} s {b['bytes']:,} B")
    big_mb = probes["factory serve"]["big"]["mb"]
    print(f"  {big_mb:.0f} MB request: see the table (status, seconds, peak RSS of the server tree over idle)")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "probes": probes}, indent=2))
    bad = sum(run[c]["non_2xx"] for run in ours for c in ("c16", "c64"))
    bad += fivexx["factory serve"] + int(probes["factory serve"]["good_after"] != 200)
    return 1 if bad else 0


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
    ap.add_argument("--front", action="store_true", help="compare factory serve with mlflow models serve")
    ap.add_argument("--quick", action="store_true", help="fewer requests (100 sequential, 400 concurrent)")
    ap.add_argument("--rounds", type=int, default=2, help="--front: rounds, the server order alternating")
    args = ap.parse_args()
    if args.quick:
        args.latency_requests, args.requests = min(args.latency_requests, 100), min(args.requests, 400)
    if args.front and args.keys == ",".join(DEFAULT_KEYS):
        args.keys = "lightgbm"
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
        if args.front:
            return compare_front(next(iter(uris.values())), bars.iloc[-window:].reset_index(drop=True), body,
                                 env, cwd, args)
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
