"""The inference log's durability contract on a promoted LightGBM version, in process and behind a real
``mlflow models serve``: in the default (sync) mode a prediction's file is in place before ``predict`` returns, so
a SIGKILL during a burst of requests loses no answered prediction; a write that fails answers 503 with the cause;
the opt-in async mode never fails a prediction; an unknown mode fails the load.
"""

from __future__ import annotations

import http.client
import itertools
import json
import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from serving_setup import tmp_leftovers, trained_registry

from serving.client import bars_payload, predictions_frame
from serving.inference_log import (
    ENV, MODE_ENV, OUTPUT_NAMES, InferenceLogError, load_inference_rows, read_inference_log,
)
from serving.local_server import LocalScoringServer

pytestmark = pytest.mark.integration

NAME = "mes-lightgbm"


@dataclass
class Trained:
    env: dict[str, str]  # the tracking URI of the throwaway registry
    bars: pd.DataFrame
    min_bars: int

    def window(self, end: int) -> pd.DataFrame:
        """The ``min_bars`` bars ending just before bar ``end``: its prediction is the bar ``end - 1``."""
        return self.bars.iloc[end - self.min_bars:end].reset_index(drop=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import mlflow

    with trained_registry(tmp_path_factory.mktemp("ilog_durability"), ["lightgbm"]) as reg:
        min_bars = int(mlflow.pyfunc.load_model(f"models:/{NAME}/1").metadata.metadata["min_bars"])
        yield Trained(reg.env, reg.bars, min_bars)


def _iso(bars: pd.DataFrame) -> pd.DataFrame:
    out = bars.copy()
    out["timestamp"] = [t.isoformat() for t in out["timestamp"]]
    return out


def _load(monkeypatch, log_root: Path, mode: str | None = None):
    import mlflow

    monkeypatch.setenv(ENV, str(log_root))
    if mode is None:
        monkeypatch.delenv(MODE_ENV, raising=False)
    else:
        monkeypatch.setenv(MODE_ENV, mode)
    return mlflow.pyfunc.load_model(f"models:/{NAME}/1")


def _no_space(monkeypatch):
    real_replace = os.replace

    def crash(src, dst):
        if Path(src).name.startswith(".tmp-"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    return real_replace


def _assert_logged(rows: pd.DataFrame, answer: pd.DataFrame) -> None:
    """``answer`` (one predicted bar) is in ``rows`` once, with the same outputs."""
    hit = rows[rows["timestamp"] == answer["timestamp"].iloc[0]]
    assert len(hit) == 1, f"answered bar {answer['timestamp'].iloc[0]} is logged {len(hit)} times"
    for k in OUTPUT_NAMES:
        np.testing.assert_allclose(hit[f"pred_{k}"].to_numpy(), answer[k].to_numpy(), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------------- in process
def test_predict_returns_only_once_its_log_file_is_written(trained, tmp_path, monkeypatch):
    model = _load(monkeypatch, tmp_path / "logs")  # no mode set: sync is the default
    folder = tmp_path / "logs" / NAME
    assert read_inference_log(folder) == []  # the warm-up request at load time is not logged
    end = len(trained.bars)
    for k in range(3):
        out = model.predict(_iso(trained.window(end - k)), params={"last_only": True})
        # No flush, no wait: the file of the prediction just returned is already there.
        rows = load_inference_rows(read_inference_log(folder))
        assert len(rows) == k + 1
        assert out["timestamp"].iloc[0] == trained.bars["timestamp"].iloc[end - k - 1]
        _assert_logged(rows, out)


def test_a_log_write_that_fails_fails_the_prediction_as_a_503(trained, tmp_path, monkeypatch, caplog):
    from mlflow.exceptions import MlflowException

    model = _load(monkeypatch, tmp_path / "logs")
    real_replace = _no_space(monkeypatch)
    bars = _iso(trained.window(len(trained.bars)))
    with caplog.at_level(logging.ERROR, logger="serving.inference_log"):
        with pytest.raises(MlflowException) as err:
            model.predict(bars, params={"last_only": True})
    exc = err.value
    assert exc.error_code == "TEMPORARILY_UNAVAILABLE" and exc.get_http_status_code() == 503
    assert "prediction not answered" in exc.message and "No space left on device" in exc.message
    assert "FACTORY_INFERENCE_LOG" in exc.message and "could not write" in caplog.text
    folder = tmp_path / "logs" / NAME
    assert read_inference_log(folder) == [] and not tmp_leftovers(folder)
    monkeypatch.setattr(os, "replace", real_replace)
    model.predict(bars, params={"last_only": True})  # the log recovers by itself
    assert len(read_inference_log(folder)) == 1


def test_the_async_mode_never_fails_a_prediction(trained, tmp_path, monkeypatch, caplog):
    model = _load(monkeypatch, tmp_path / "logs", mode="async")
    log = model.unwrap_python_model().inference_log
    assert log.mode == "async"
    real_replace = _no_space(monkeypatch)
    bars = _iso(trained.window(len(trained.bars)))
    with caplog.at_level(logging.WARNING, logger="serving.inference_log"):
        out = model.predict(bars, params={"last_only": True})
        assert log.flush(timeout=20)
    assert len(out) == 1 and "No space left on device" in caplog.text
    folder = tmp_path / "logs" / NAME
    assert read_inference_log(folder) == [] and not tmp_leftovers(folder)
    monkeypatch.setattr(os, "replace", real_replace)
    model.predict(bars, params={"last_only": True})
    assert log.flush(timeout=20) and len(read_inference_log(folder)) == 1
    log.close()


def test_an_unknown_mode_fails_the_load(trained, tmp_path, monkeypatch):
    with pytest.raises(InferenceLogError, match=f"{MODE_ENV}='later' is not one of sync, async"):
        _load(monkeypatch, tmp_path / "logs", mode="later")


# ----------------------------------------------------------------------------------------------------- served
def _server(trained: Trained, tmp_path: Path, **env: str) -> LocalScoringServer:
    return LocalScoringServer(f"models:/{NAME}@champion", cwd=tmp_path,
                              env={**trained.env, ENV: str(tmp_path / "logs"), **env})


def test_the_server_answers_503_while_the_log_cannot_be_written(trained, tmp_path):
    folder = tmp_path / "logs" / NAME
    body = bars_payload(trained.window(len(trained.bars)))
    with _server(trained, tmp_path) as server:
        assert server.post(body)[0] == 200 and len(read_inference_log(folder)) == 1
        # The model folder turns into a file after load: no write can succeed there, even as root.
        aside = folder.with_name("aside")
        folder.rename(aside)
        folder.write_text("not a folder")
        code, answer = server.post(body)
        assert code == 503, answer
        assert answer["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert "prediction not answered" in answer["message"] and "Not a directory" in answer["message"]
        folder.unlink()
        aside.rename(folder)
        assert server.post(body)[0] == 200  # and it answers again once the folder is back
    assert len(read_inference_log(folder)) == 2


def test_a_sigkill_during_a_burst_loses_no_answered_prediction(trained, tmp_path):
    n_requests, kill_after, n_clients = 48, 16, 8
    last = len(trained.bars)
    ends = [last - i for i in range(n_requests)]  # each request predicts a different bar
    bodies = [json.dumps(bars_payload(trained.window(e))) for e in ends]
    sent_bars = set(trained.bars["timestamp"].iloc[[e - 1 for e in ends]])
    answered: dict[int, pd.DataFrame] = {}
    others: list[tuple[int, int]] = []
    lock = threading.Lock()
    killed = threading.Event()
    order = itertools.count()
    server = _server(trained, tmp_path).start()
    try:
        server.wait_ready()
        pgid = server.proc.pid

        def client() -> None:
            conn = server.connection(timeout=60)
            while True:
                with lock:
                    i = next(order)
                if i >= n_requests:
                    break
                try:
                    status, raw = server.post_raw(bodies[i], conn=conn)
                except (OSError, http.client.HTTPException):
                    break  # killed under this request: not answered
                with lock:
                    if status != 200:
                        others.append((i, status))
                        continue
                    answered[i] = predictions_frame(json.loads(raw))
                    if len(answered) == kill_after:
                        # Right after an answer, while other requests are in flight.
                        os.killpg(pgid, signal.SIGKILL)
                        killed.set()
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(n_clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        assert killed.is_set() and server.proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        server.stop()
    assert others == []
    assert kill_after <= len(answered) < n_requests  # killed in the middle of the burst
    rows = load_inference_rows(read_inference_log(tmp_path / "logs" / NAME))
    logged = set(rows["timestamp"]) if len(rows) else set()
    assert logged <= sent_bars and (rows.empty or rows["request_id"].is_unique)
    missing = sorted(str(a["timestamp"].iloc[0]) for a in answered.values() if a["timestamp"].iloc[0] not in logged)
    assert missing == [], f"{len(missing)} of {len(answered)} answered predictions have no log file: {missing}"
    for i, answer in answered.items():
        assert answer["timestamp"].iloc[0] == trained.bars["timestamp"].iloc[ends[i] - 1]
        _assert_logged(rows, answer)
