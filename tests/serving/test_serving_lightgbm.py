"""`mlflow models serve` of a promoted LightGBM version: alias and stage URIs, every input format, malformed
requests, parity with the offline pyfunc, and the inference log written by the real server.

Two real servers (127.0.0.1, free ports) share one module: ``models:/mes-lightgbm@champion`` with
``FACTORY_INFERENCE_LOG`` and ``FACTORY_MAX_ROWS=1500``, and ``models:/mes-lightgbm/Production`` without the log.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from serving_setup import WINDOW, settled_files, tmp_leftovers, trained_registry, wait_for_files

from serving.client import INPUT_FORMATS, bars_payload, predictions_frame
from serving.inference_log import OUTPUT_NAMES, load_inference_rows, received_time
from serving.input_checks import check_bars_input
from serving.local_server import LocalScoringServer

pytestmark = pytest.mark.integration

MAX_ROWS = 1500
NAME = "mes-lightgbm"


@dataclass
class Served:
    logged: LocalScoringServer  # @champion, inference log on
    quiet: LocalScoringServer  # /Production, no log
    offline: object  # the same version loaded in this process
    bars: pd.DataFrame  # a request window
    log_dir: Path
    quiet_cwd: Path
    pids: tuple[int, int]

    @property
    def bundle(self):
        return self.offline.unwrap_python_model().bundle


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import mlflow

    folder = tmp_path_factory.mktemp("serve_lightgbm")
    with trained_registry(folder, ["lightgbm"]) as reg:
        quiet_cwd = folder / "quiet"
        quiet_cwd.mkdir()
        logged = LocalScoringServer(f"models:/{NAME}@champion", cwd=folder, env={
            **reg.env, "FACTORY_INFERENCE_LOG": str(folder / "logs"), "FACTORY_MAX_ROWS": str(MAX_ROWS)})
        quiet = LocalScoringServer(f"models:/{NAME}/Production", cwd=quiet_cwd, env=reg.env)
        try:
            logged.start()
            quiet.start()  # both start at once: most of the wait is imports and the warm-up request
            logged.wait_ready()
            quiet.wait_ready()
            offline = mlflow.pyfunc.load_model(f"models:/{NAME}/{reg.versions['lightgbm']}")
            yield Served(logged, quiet, offline, reg.window(), folder / "logs" / NAME, quiet_cwd,
                         (logged.proc.pid, quiet.proc.pid))
        finally:
            logged.stop()
            quiet.stop()


def _iso(bars: pd.DataFrame) -> pd.DataFrame:
    out = bars.reset_index(drop=True).copy()
    out["timestamp"] = [t.isoformat() for t in out["timestamp"]]
    return out


def _split(bars: pd.DataFrame) -> dict:
    return bars_payload(bars, "dataframe_split", last_only=None)["dataframe_split"]


def _set(bars, row, col, value):
    out = _split(bars)
    out["data"][row][out["columns"].index(col)] = value
    return {"dataframe_split": out}


# name -> (body builder(bars) -> (body, content type), expected status, text the message must contain)
MALFORMED = {
    "bad JSON": (lambda b: ("{not json", "application/json"), 400, "valid JSON"),
    "wrong content type": (lambda b: (json.dumps(bars_payload(b)), "text/plain"), 415, "content types"),
    "wrong top-level key": (lambda b: ({"data": _split(b)}, None), 400, "exactly one of the input fields"),
    "missing column": (lambda b: ({"dataframe_split": _split(b.drop(columns=["volume"]))}, None), 400, "volume"),
    "non-numeric": (lambda b: (_set(b, 7, "open", "abc"), None), 400, "[numeric] column 'open'"),
    "string number": (lambda b: (_set(b, 9, "close", "4500.25"), None), 400, "[numeric] column 'close'"),
    "boolean volume": (lambda b: (_set(b, 0, "volume", True), None), 400, "[numeric] column 'volume'"),
    "NaN (null)": (lambda b: (_set(b, 11, "close", None), None), 400, "[nan] column 'close'"),
    "NaN literal": (lambda b: (json.dumps(_set(b, 12, "low", float("nan"))), "application/json"), 400,
                    "[nan] column 'low'"),
    "infinity": (lambda b: (json.dumps(_set(b, 4, "high", float("inf"))), "application/json"), 400,
                 "[finite] column 'high'"),
    "overflowing literal": (lambda b: (json.dumps(_set(b, 4, "high", 12345.0)).replace("12345.0", "1e400"),
                                       "application/json"), 400, "[finite] column 'high'"),
    "huge numbers": (lambda b: ({"dataframe_split": _split(b.assign(open=1e308, high=1e308, low=1e308,
                                                                     close=1e308))}, None), 400, "[magnitude]"),
    "huge integer volume": (lambda b: (_set(b, 3, "volume", 10**30), None), 400, "[magnitude] column 'volume'"),
    "unsorted": (lambda b: ({"dataframe_split": _split(b.iloc[::-1])}, None), 400, "[sorted] column 'timestamp'"),
    "duplicate timestamps": (lambda b: (_set(b, 6, "timestamp", _split(b)["data"][5][0]), None), 400,
                             "[unique] column 'timestamp'"),
    "too few rows": (lambda b: ({"dataframe_split": _split(b.iloc[-50:])}, None), 400, "[min_bars]"),
    "high < low": (lambda b: (_set(b, 12, "high", 1.0), None), 400, "[high_low]"),
    "negative volume": (lambda b: (_set(b, 11, "volume", -5), None), 400, "[volume] column 'volume'"),
    "too many rows": (lambda b: ({"dataframe_split": _split(pd.concat([b] * 3).iloc[:MAX_ROWS + 1])}, None), 400,
                      "[rows]"),
    "empty frame": (lambda b: ({"dataframe_split": {"columns": list(_split(b)["columns"]), "data": []}}, None),
                    400, "[empty]"),
    "timestamp format": (lambda b: (_set(b, 3, "timestamp", "08/01/2024 10:00"), None), 400,
                         "not an ISO-8601 timestamp"),
    "mixed timestamp kinds": (lambda b: (_set(b, 2, "timestamp", 1704067200000), None), 400, "mixes value types"),
    "missing timestamp": (lambda b: (_set(b, 2, "timestamp", None), None), 400, "missing timestamp"),
    "ragged rows": (lambda b: ({"dataframe_split": {"columns": list(b.columns), "data": [[1, 2], [3]]}}, None),
                    400, "dataframe_split"),
    "bad last_only": (lambda b: ({**bars_payload(b), "params": {"last_only": "maybe"}}, None), 400, "last_only"),
}


def _send(server, body, content_type):
    if content_type is None:
        return server.post(body)
    status, raw = server.post_raw(body, content_type)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_request_is_a_4xx_naming_the_problem(served, case):
    build, status, needle = MALFORMED[case]
    before = len(settled_files(served.log_dir))
    code, body = _send(served.logged, *build(served.bars))
    text = body if isinstance(body, str) else body.get("message", "")
    assert code == status, (code, text[-500:])
    assert needle in text, text[-800:]
    assert served.logged.alive
    assert len(settled_files(served.log_dir, quiet=0.05)) == before  # a refused request logs nothing


@pytest.mark.xfail(reason="MLflow 3.17's scoring server answers 500 when a POST has no Content-Type header "
                          "(it splits None); the request never reaches the model", strict=False)
def test_missing_content_type_header(served):
    code, _ = served.logged.post_raw(json.dumps(bars_payload(served.bars)), content_type=None)
    assert 400 <= code < 500


def _offline(served, bars, last_only):
    return served.offline.predict(_iso(bars), params={"last_only": last_only})


def _assert_same(got: pd.DataFrame, expect: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expect.reset_index(drop=True), check_exact=True, check_dtype=False)
    assert got["signal"].dtype == np.int64


def test_same_process_answers_good_requests_after_bad_ones(served):
    for case in ("bad JSON", "NaN (null)", "too many rows", "missing column"):
        build, status, _ = MALFORMED[case]
        assert _send(served.logged, *build(served.bars))[0] == status
    code, body = served.logged.post(bars_payload(served.bars))
    assert code == 200
    _assert_same(predictions_frame(body), _offline(served, served.bars, True))
    assert (served.logged.proc.pid, served.quiet.proc.pid) == served.pids and served.logged.alive


@pytest.mark.parametrize("last_only", [True, False])
def test_every_input_format_gives_the_same_answer(served, last_only):
    answers = {}
    for fmt in INPUT_FORMATS:
        code, body = served.logged.post(bars_payload(served.bars, fmt, last_only=last_only))
        assert code == 200, (fmt, body)
        answers[fmt] = body
    assert answers["dataframe_records"] == answers["dataframe_split"] == answers["inputs"]
    assert len(answers["inputs"]["predictions"]) == (1 if last_only else WINDOW - served.bundle.warmup_bars)


@pytest.mark.parametrize("last_only", [True, False])
def test_served_equals_offline_and_alias_equals_stage(served, last_only):
    payload = bars_payload(served.bars, last_only=last_only)
    code, body = served.logged.post(payload)
    assert code == 200
    _assert_same(predictions_frame(body), _offline(served, served.bars, last_only))
    code, quiet_body = served.quiet.post(payload)  # models:/...@champion and models:/.../Production
    assert code == 200 and quiet_body == body


def test_inference_log_holds_inputs_and_outputs_of_the_predicted_rows(served):
    known = set(settled_files(served.log_dir))
    meta_features = served.offline.metadata.metadata["feature_names"]
    for last_only, bars in ((True, served.bars), (False, served.bars.iloc[-400:].reset_index(drop=True))):
        code, body = served.logged.post(bars_payload(bars, last_only=last_only))
        assert code == 200
        files = wait_for_files(served.log_dir, len(known) + 1)
        new = [f for f in files if f not in known]
        assert len(new) == 1, new
        known.update(new)
        table = pq.read_table(new[0])
        assert table.column_names == ["request_id", "received_at", "timestamp", *meta_features,
                                      *(f"pred_{k}" for k in OUTPUT_NAMES)]
        assert str(table.schema.field("received_at").type) == "timestamp[us, tz=UTC]"
        logged = table.to_pandas()
        served_out = predictions_frame(body)
        assert len(logged) == len(served_out) == (1 if last_only else len(bars) - served.bundle.warmup_bars)
        checked = check_bars_input(_iso(bars), served.bundle.min_bars)
        _, inputs = served.bundle.predict_with_inputs(checked, last_only=last_only)
        np.testing.assert_array_equal(logged[meta_features].to_numpy(), inputs.to_numpy())
        assert {str(t) for t in logged[meta_features].dtypes} <= {"float32", "float64"}
        np.testing.assert_array_equal(logged["timestamp"].to_numpy(), served_out["timestamp"].to_numpy())
        for k in OUTPUT_NAMES:
            np.testing.assert_array_equal(logged[f"pred_{k}"].to_numpy(), served_out[k].to_numpy())
        rid = new[0].name.split("-", 1)[1].removesuffix(".parquet")
        assert (logged["request_id"] == rid).all() and len(rid) == 32
        assert (logged["received_at"] == pd.Timestamp(received_time(new[0]))).all()
        meta = table.schema.metadata
        assert meta[b"factory.model_name"] == NAME.encode() and meta[b"factory.model_version"] == b"1"
    assert not tmp_leftovers(served.log_dir)


def test_concurrent_requests_give_distinct_complete_files(served):
    before = set(settled_files(served.log_dir))
    body = json.dumps(bars_payload(served.bars))
    codes: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        conn = served.logged.connection()
        for _ in range(4):
            code, _ = served.logged.post_raw(body, conn=conn)
            with lock:
                codes.append(code)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert codes == [200] * 64
    files = wait_for_files(served.log_dir, len(before) + 64)
    new = [f for f in files if f not in before]
    assert len(new) == 64
    rows = load_inference_rows(new)
    assert len(rows) == 64 and rows["request_id"].nunique() == 64
    assert not tmp_leftovers(served.log_dir)


def test_without_the_variable_nothing_is_written(served):
    before = len(settled_files(served.log_dir))
    for last_only in (True, False):
        assert served.quiet.post(bars_payload(served.bars, last_only=last_only))[0] == 200
    assert served.logged.post(bars_payload(served.bars))[0] == 200  # a logged request to wait for
    wait_for_files(served.log_dir, before + 1)
    assert len(settled_files(served.log_dir)) == before + 1
    assert sorted(p.name for p in served.log_dir.parent.iterdir()) == [NAME]
    assert not list(served.quiet_cwd.iterdir())


def _load_with_log(served, tmp_path, monkeypatch, log_root):
    import mlflow

    monkeypatch.setenv("FACTORY_INFERENCE_LOG", str(log_root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", served.logged.env["MLFLOW_TRACKING_URI"])
    mlflow.set_tracking_uri(served.logged.env["MLFLOW_TRACKING_URI"])
    try:
        return mlflow.pyfunc.load_model(f"models:/{NAME}/1")
    finally:
        mlflow.set_tracking_uri(None)


def test_a_misconfigured_log_folder_fails_at_load_time(served, tmp_path, monkeypatch):
    from serving.inference_log import InferenceLogError

    a_file = tmp_path / "not_a_folder"
    a_file.write_text("x")
    with pytest.raises(InferenceLogError, match="FACTORY_INFERENCE_LOG=.*not_a_folder is a file"):
        _load_with_log(served, tmp_path, monkeypatch, a_file)
