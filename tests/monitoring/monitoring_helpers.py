"""Helpers of the drift-daemon tests: a registered model with a reference sample, and inference-log files.

A uniquely named module (every test folder has a conftest). Models registered here are not trained: a folder with
an ``MLmodel`` (``metadata.feature_names``, the ``reference_sample`` artifact entry) and the reference Parquet is
all the daemon reads from a version.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

FEATURES = [f"f{i}" for i in range(6)]
T0 = pd.Timestamp("2026-01-05 00:00:00", tz="UTC")


def normal_frame(n: int, seed: int, shift: float = 0.0, columns=FEATURES, shifted=4) -> pd.DataFrame:
    """``n`` rows of N(0, 1) features; the first ``shifted`` columns moved by ``shift`` standard deviations."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n, len(columns)))
    values[:, :shifted] += shift
    return pd.DataFrame(values.astype(np.float32), columns=columns)


# Per-column AR(1) coefficients of :func:`regime_series`: from white noise to a level that wanders for ~1,000 rows.
AR_PHI = (0.0, 0.5, 0.9, 0.98, 0.995, 0.999)
# Volatility of the hidden regimes and how long one lasts on average (rows).
REGIME_VOL = (0.6, 1.0, 1.7)
REGIME_ROWS = 3_000


def regime_series(n: int, seed: int, vol_scale: float = 1.0, columns=FEATURES) -> pd.DataFrame:
    """``n`` time-ordered rows of autocorrelated features in hidden volatility regimes (a sticky Markov chain).

    Column j is an AR(1) process with coefficient ``AR_PHI[j]`` whose innovations are scaled by the current
    regime's volatility (times ``vol_scale``), normalised so each column has unit variance in the long run. Two
    calls with different seeds are the same process: the second is in-distribution relative to the first.
    """
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    k = len(REGIME_VOL)
    stay = 1.0 - 1.0 / REGIME_ROWS
    switch = np.flatnonzero(rng.random(n) > stay)
    regime = np.zeros(n, dtype=np.int64)
    state = int(rng.integers(k))
    last = 0
    for at in switch:
        regime[last:at] = state
        state = int((state + rng.integers(1, k)) % k)
        last = at
    regime[last:] = state
    vol = np.asarray(REGIME_VOL)[regime] / np.sqrt(np.mean(np.square(REGIME_VOL))) * vol_scale
    out = {}
    for j, c in enumerate(columns):
        phi = AR_PHI[j % len(AR_PHI)]
        burn = int(5 / (1 - phi)) if phi else 0
        e = rng.standard_normal(n + burn) * np.r_[np.full(burn, vol[0]), vol]
        x = lfilter([np.sqrt(1 - phi ** 2)], [1.0, -phi], e)[burn:]
        out[c] = x.astype(np.float32)
    return pd.DataFrame(out)


def register_model(client, folder: Path, name: str, reference: pd.DataFrame, feature_names=None,
                   alias: str | None = "champion", null_sample: pd.DataFrame | None = None) -> str:
    """A registry version whose artifacts are ``MLmodel``, the reference sample and optionally the null sample;
    returns the version."""
    from mlflow.exceptions import MlflowException

    feature_names = list(feature_names or [c for c in reference.columns if c != "timestamp"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "artifacts").mkdir(exist_ok=True)
    sample = reference.copy()
    if "timestamp" not in sample.columns:
        sample.insert(0, "timestamp", pd.date_range("2025-01-01", periods=len(sample), freq="min", tz="UTC"))
    sample.to_parquet(folder / "artifacts" / "reference_sample.parquet", index=False)
    artifacts = {"reference_sample": {"path": "artifacts/reference_sample.parquet"}}
    if null_sample is not None:
        null_sample.to_parquet(folder / "artifacts" / "drift_null_sample.parquet", index=False)
        artifacts["drift_null_sample"] = {"path": "artifacts/drift_null_sample.parquet"}
    mlmodel = {"flavors": {"python_function": {"artifacts": artifacts}}, "metadata": {"feature_names": feature_names}}
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    try:
        client.create_registered_model(name)
    except MlflowException:
        pass
    version = str(client.create_model_version(name, source=str(folder)).version)
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return version


def write_log(root: Path, name: str, features: pd.DataFrame, rows_per_file, start: pd.Timestamp = T0,
              step: pd.Timedelta = pd.Timedelta(minutes=1), seed: int = 0) -> list[Path]:
    """Log ``features`` as predictions of model ``name`` with the serving writer, ``rows_per_file`` rows each.

    ``rows_per_file``: an int or a list of sizes (cycled); file k is received at ``start + k * step``. Request ids
    come from ``seed``, so the same call writes the same file names.
    """
    from serving.inference_log import OUTPUT_NAMES, InferenceLog, folder_name

    log = InferenceLog(root / folder_name(name), list(features.columns), background=False)
    sizes = rows_per_file if isinstance(rows_per_file, (list, tuple)) else [rows_per_file]
    rng = np.random.default_rng(seed)
    lo, k = 0, 0
    values = features.to_numpy()
    while lo < len(features):
        hi = min(lo + int(sizes[k % len(sizes)]), len(features))
        n = hi - lo
        received = start + k * step
        received_us = (received - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)
        stamps = (received.value - np.arange(n)[::-1] * 60_000_000_000).astype(np.int64)
        outputs = {o: np.zeros(n, dtype=np.int64 if o == "signal" else np.float64) for o in OUTPUT_NAMES}
        rid = uuid.UUID(bytes=rng.bytes(16)).hex
        log.append(received_us, rid, stamps, values[lo:hi], outputs)
        lo, k = hi, k + 1
    return sorted((root / folder_name(name)).glob("*.parquet"))


def monitor_config(tmp: Path, **overrides):
    """A daemon configuration writing under ``tmp``: 200-row windows, no settle delay, fast backoff."""
    from monitoring.config import load_monitor_config

    base = {"poll_interval_s": 0.05, "settle_s": 0, "window": {"rows": 200}, "jsonl": str(tmp / "alerts.jsonl"),
            "state_dir": str(tmp / "state"), "report_dir": str(tmp / "reports"), "reports": "drift",
            "tracking_backoff_s": 0.05, "tracking_max_backoff_s": 0.2,
            "webhook": {"timeout_s": 2, "retries": 2, "backoff_s": 0.01, "max_backoff_s": 0.05,
                        "drain_timeout_s": 5}}
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = {**base[k], **v}
        else:
            base[k] = v
    return load_monitor_config(overrides=base)


class Receiver:
    """A webhook receiver on 127.0.0.1 (own thread): records JSON bodies, answers with ``codes`` in turn.

    Use as a context manager; the server stops on exit. After ``codes`` is used up it answers 200. While
    ``hang_s`` is above 0 it holds each request that long and then drops it unanswered and unrecorded (a receiver
    that hangs); set it to 0 to let it recover.
    """

    def __init__(self, codes=(), hang_s: float = 0.0) -> None:
        self.codes = list(codes)
        self.hang_s = hang_s
        self.bodies: list[dict] = []
        self.attempts = 0
        self.hung = 0

    def __enter__(self) -> "Receiver":
        import json
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.attempts += 1
                if receiver.hang_s > 0:
                    receiver.hung += 1
                    time.sleep(receiver.hang_s)
                    self.close_connection = True
                    return
                code = receiver.codes.pop(0) if receiver.codes else 200
                if code == 200:
                    receiver.bodies.append(json.loads(body))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
