"""`mlflow models serve` on a trained version: 200 for good requests, 400 naming the problem for bad ones, never 5xx.

Slow (a scoring server takes a while to start); run with ``-m slow``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMALL_CONFIG = REPO / "tests" / "packaging" / "small_train.yaml"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, payload: dict) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import pandas as pd

    from factory.data.synth import generate_bars

    folder = tmp_path_factory.mktemp("serve")
    bars = generate_bars(12_000, seed=9)
    bars.to_parquet(folder / "bars.parquet")
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}",
               MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    train = subprocess.run([sys.executable, "-m", "factory.cli", "train", "--model", "lightgbm", "--quiet", "--data",
                            str(folder / "bars.parquet"), "--config", str(SMALL_CONFIG)], cwd=folder, env=env,
                           capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/mes-lightgbm/1",
                             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the scoring server did not start")
        yield port, pd.read_parquet(folder / "bars.parquet").iloc[-600:].reset_index(drop=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _split(df) -> dict:
    out = df.copy()
    out["timestamp"] = [t.isoformat() for t in out["timestamp"]]
    return json.loads(out.to_json(orient="split", index=False))


def test_good_request_and_last_only(server):
    port, bars = server
    code, body = _post(port, {"dataframe_split": _split(bars), "params": {"last_only": True}})
    assert code == 200 and len(body["predictions"]) == 1
    row = body["predictions"][0]
    assert set(row) == {"timestamp", "prob_down", "prob_flat", "prob_up", "signal", "expected_return", "ret_q05",
                        "ret_q50", "ret_q95"}
    code, body = _post(port, {"dataframe_split": json.loads(bars.to_json(orient="split", index=False))})
    assert code == 200 and len(body["predictions"]) > 1  # epoch-millisecond timestamps (to_json's default)


@pytest.mark.parametrize("mutate, needle", [
    (lambda df: df.assign(close=df["close"].where(df.index != 7)), "[nan] column 'close'"),
    (lambda df: df.iloc[::-1], "[sorted]"),
    (lambda df: df.iloc[-50:], "[min_bars]"),
    (lambda df: df.assign(volume=-1.0), "[volume]"),
    (lambda df: df.drop(columns=["high"]), "high"),
])
def test_bad_requests_are_400_with_the_reason(server, mutate, needle):
    port, bars = server
    code, body = _post(port, {"dataframe_split": _split(mutate(bars))})
    assert code == 400
    assert body.get("error_code") == "INVALID_PARAMETER_VALUE" and needle in body.get("message", "")
