"""`factory serve` against malformed requests: one real server (127.0.0.1, free port, two uvicorn workers in
factory mode) for the module.

Each bad request gets a 4xx whose message starts with the check's name, without a traceback or a server path,
and the server then still answers a good request with the offline pyfunc's predictions. The same malformed
requests against `mlflow models serve` behave as the README documents (slow: a second server).
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from serving_setup import trained_registry

from serving.client import bars_payload, predictions_frame
from serving.local_server import HOST, LocalScoringServer

pytestmark = pytest.mark.integration

NAME = "mes-lightgbm"
MAX_BODY_MB = 16
MAX_BODY = MAX_BODY_MB * 2**20
CHECKED = re.compile(r"^invalid (request|bars): \[([a-z_]+)\]")
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/[\w.+-]+/")


@dataclass
class Front:
    server: LocalScoringServer
    bars: pd.DataFrame
    expected: pd.DataFrame  # the offline pyfunc's answer for ``bars`` (every row)

    def good(self, body=None, content_type="application/json"):
        raw = json.dumps(bars_payload(self.bars, last_only=None)) if body is None else body
        return self.server.post_raw(raw, content_type=content_type)

    def assert_alive_and_right(self) -> None:
        status, raw = self.good()
        assert status == 200, raw[:500]
        assert_same(predictions_frame(json.loads(raw)), self.expected)


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    assert (got["timestamp"].to_numpy() == pd.to_datetime(expected["timestamp"], utc=True).to_numpy()).all()
    for col in expected.columns.drop("timestamp"):
        np.testing.assert_allclose(got[col].to_numpy(float), expected[col].to_numpy(float), rtol=1e-9, atol=1e-12)


def error_message(status: int, raw: bytes, check: str) -> str:
    """The message of a 4xx answer, after the invariants every refusal keeps."""
    assert 400 <= status < 500, (status, raw[:500])
    assert len(raw) < 2048, len(raw)
    body = json.loads(raw)
    message = body["message"]
    assert set(body) == {"error_code", "message"}
    assert CHECKED.match(message), message
    assert message.startswith(f"invalid request: [{check}]") or message.startswith(f"invalid bars: [{check}]"), \
        message
    assert "Traceback" not in message and not ABSOLUTE_PATH.search(message), message
    return message


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    import mlflow

    folder = tmp_path_factory.mktemp("front")
    with trained_registry(folder, ["lightgbm"]) as reg:
        server = LocalScoringServer(f"models:/{NAME}@champion", cwd=folder, env=reg.env, front=True, workers=2,
                                    extra_args=("--max-body-mb", str(MAX_BODY_MB)))
        with server:
            offline = mlflow.pyfunc.load_model(f"models:/{NAME}/{reg.versions['lightgbm']}")
            bars = reg.window()
            expected = offline.predict(bars)
            yield Front(server, bars, expected)


@pytest.fixture()
def alive(front):
    """Every test leaves the server answering good requests correctly."""
    yield front
    assert front.server.alive, front.server.log_tail()
    front.assert_alive_and_right()


def test_good_request_and_endpoints(alive):
    alive.assert_alive_and_right()
    assert alive.server.get("/ping")[0] == 200
    assert alive.server.get("/health")[0] == 200
    status, raw = alive.server.get("/version")
    assert status == 200 and raw.decode().startswith("3.")
    status, raw = alive.server.post_raw(json.dumps(bars_payload(alive.bars, "dataframe_records", last_only=True)))
    assert status == 200
    assert_same(predictions_frame(json.loads(raw)), alive.expected.iloc[[-1]].reset_index(drop=True))


def _children(pid: int) -> list[str]:
    """Command lines of the direct children of ``pid`` (Linux ``/proc``)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue
    return out


def test_two_workers_each_serve(alive):
    workers = [c for c in _children(alive.server.proc.pid) if "spawn_main" in c]
    assert len(workers) == 2, _children(alive.server.proc.pid)
    # Concurrent requests: both workers answer, and answer alike.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: alive.good(), range(8)))
    assert all(status == 200 for status, _ in answers)
    for _, raw in answers:
        assert_same(predictions_frame(json.loads(raw)), alive.expected)


def test_no_content_type_is_json(alive):
    status, raw = alive.good(content_type=None)
    assert status == 200, raw[:500]
    assert_same(predictions_frame(json.loads(raw)), alive.expected)


def test_deep_json_is_refused_by_depth(alive):
    t0 = time.perf_counter()
    status, raw = alive.server.post_raw("[" * 100_000 + "]" * 100_000)
    assert time.perf_counter() - t0 < 5
    assert status == 400
    assert "100000 levels" in error_message(status, raw, "json_depth")


def test_content_length_over_limit_is_refused_before_reading(alive):
    with socket.create_connection((HOST, alive.server.port), timeout=10) as sock:
        t0 = time.perf_counter()
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n{\"dataframe_split\": " % (MAX_BODY + 1))
        raw = _read_response(sock)
        assert time.perf_counter() - t0 < 3  # the body is never sent: the answer cannot wait for it
    status, body = _parse_response(raw)
    assert status == 413
    assert f"{MAX_BODY + 1:,} bytes" in error_message(status, body, "body_size")


def test_chunked_body_over_limit_is_refused_while_streaming(alive):
    chunk = b" " * 2**20
    sent = [0]

    def chunks():
        yield b'{"dataframe_split": '
        while sent[0] < MAX_BODY + 4 * 2**20:
            sent[0] += len(chunk)
            yield chunk

    conn = alive.server.connection(timeout=30)
    try:
        conn.request("POST", "/invocations", body=chunks(), encode_chunked=True,
                     headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        r = conn.getresponse()
        status, raw = r.status, r.read()
        assert status == 413
        assert "passed" in error_message(status, raw, "body_size")
        # uvicorn dropped the rest of the body: the same connection serves the next request
        status, raw = alive.server.post_raw(json.dumps(bars_payload(alive.bars, last_only=None)), conn=conn)
        assert status == 200
    finally:
        conn.close()


def test_a_million_columns_are_refused_quickly_and_briefly(alive):
    n = 1_000_000
    body = json.dumps({"dataframe_split": {"columns": [f"c{i}" for i in range(n)], "data": [[0] * n]}})
    assert len(body) < MAX_BODY
    t0 = time.perf_counter()
    status, raw = alive.server.post_raw(body)
    assert time.perf_counter() - t0 < 10
    assert status == 400
    assert "1,000,000 columns" in error_message(status, raw, "columns")


def test_duplicate_columns_are_named(alive):
    split = bars_payload(alive.bars, last_only=None)["dataframe_split"]
    split["columns"] = [*split["columns"][:-1], "close"]
    status, raw = alive.server.post_raw(json.dumps({"dataframe_split": split}))
    assert "duplicate column 'close'" in error_message(status, raw, "columns")
    # dataframe_records: a repeated key inside one row object
    status, raw = alive.server.post_raw('{"dataframe_records": [{"open": 1, "open": 2}]}')
    assert "duplicate key 'open'" in error_message(status, raw, "columns")


def test_unknown_param_is_named(alive):
    body = bars_payload(alive.bars, last_only=True)
    body["params"]["foo"] = 1
    status, raw = alive.server.post_raw(json.dumps(body))
    message = error_message(status, raw, "params")
    assert "'foo'" in message and "'last_only'" in message


def test_csv_body_gives_the_json_answer(alive):
    frame = alive.bars.copy()
    frame["timestamp"] = [t.isoformat() for t in frame["timestamp"]]
    status, raw = alive.good(body=frame.to_csv(index=False), content_type="text/csv")
    assert status == 200, raw[:500]
    assert_same(predictions_frame(json.loads(raw)), alive.expected)
    # a duplicated CSV header column is named too (pandas would rename it 'close.1')
    bad = frame.to_csv(index=False).replace("volume", "close", 1)
    status, raw = alive.server.post_raw(bad, content_type="text/csv")
    assert "duplicate column 'close'" in error_message(status, raw, "columns")


@pytest.mark.parametrize("body, content_type, check", [
    ("not json", "application/json", "json"),
    ("[1, 2]", "application/json", "format"),
    ('{"rows": []}', "application/json", "format"),
    (b"\xff\xfe{}", "application/json", "encoding"),
    ('{"dataframe_split": {"columns": ["timestamp", "open"], "data": [["2024-01-01", 1]]}}', "application/json",
     "columns"),
    ("timestamp,open\n", "text/csv", "columns"),
    ("", "text/csv", "csv"),
    ("a,b\n1,2", "text/plain", "content_type"),
    ("{}", "application/json; charset=latin-1", "content_type"),
    ('{"dataframe_split": {"columns": ["timestamp", "open", "high", "low", "close", "volume"], "data": 5}}',
     "application/json", None),
    ('{"inputs": [1, 2, 3]}', "application/json", None),
    ('{"dataframe_records": [{"timestamp": "x", "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1}]}',
     "application/json", None),
])
def test_other_malformed_requests_name_their_check(alive, body, content_type, check):
    status, raw = alive.server.post_raw(body, content_type=content_type)
    if check is None:  # left to MLflow or the pyfunc: still a 4xx naming some check
        named = CHECKED.match(json.loads(raw)["message"])
        assert named, (status, raw[:500])
        check = named.group(2)
    error_message(status, raw, check)


def test_the_pyfunc_checks_come_first_without_mlflow_prefix(alive):
    bars = alive.bars.copy()
    bars.loc[17, "close"] = np.nan
    split = bars_payload(bars, last_only=None)["dataframe_split"]
    status, raw = alive.server.post_raw(json.dumps({"dataframe_split": split}))
    message = error_message(status, raw, "nan")
    assert "column 'close'" in message and "Failed to predict" not in message


# ----------------------------------------------------------------------------------------------------- mlflow
@pytest.mark.slow
def test_mlflow_models_serve_behaves_as_documented(front, tmp_path):
    """The README's list of `mlflow models serve` failures, checked against a real one."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "no `Content-Type` header: 500" in readme and "nested 100,000 deep: 500" in readme
    plain = LocalScoringServer(f"models:/{NAME}@champion", cwd=front.server.cwd, env=front.server.env)
    with plain:
        good = json.dumps(bars_payload(front.bars, last_only=None))
        assert plain.post_raw(good, content_type=None)[0] == 500
        assert plain.post_raw("[" * 100_000 + "]" * 100_000)[0] == 500
        body = bars_payload(front.bars, last_only=True)
        body["params"]["foo"] = 1
        assert plain.post_raw(json.dumps(body))[0] == 200  # the unknown param is ignored
        frame = front.bars.copy()
        frame["timestamp"] = [t.isoformat() for t in frame["timestamp"]]
        status, raw = plain.post_raw(frame.to_csv(index=False), content_type="text/csv")
        assert status == 400 and b"Failed to get pandas types" in raw
        split = bars_payload(front.bars, last_only=None)["dataframe_split"]
        split["columns"] = [*split["columns"][:-1], "close"]
        status, raw = plain.post_raw(json.dumps({"dataframe_split": split}))
        assert status == 400 and b"Failed to predict data" in raw[:100]
        assert plain.post_raw(good)[0] == 200


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            break
        data += part
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(rest) < length:
        part = sock.recv(65536)
        if not part:
            break
        rest += part
    return head + b"\r\n\r\n" + rest


def _parse_response(raw: bytes) -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_bad_model_uri_and_bad_limits_are_one_line_errors(front):
    import subprocess
    import sys

    for args, expected in [(["-m", "models:/mes-nope@champion"], "error: serve: cannot fetch model "
                                                                   "'models:/mes-nope@champion'"),
                           (["-m", f"models:/{NAME}@champion", "--max-body-mb", "0"],
                            "error: serve: --max-body-mb must be positive")]:
        done = subprocess.run([sys.executable, "-m", "factory.cli", "serve", *args, "-p", "1"], cwd=front.server.cwd,
                              env=front.server.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr[-2000:]
        lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and lines[0].startswith(expected), done.stderr[-2000:]
        assert "Traceback" not in done.stderr
