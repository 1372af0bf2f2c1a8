"""`serving.front_checks` without a server: the depth scan against a character-by-character reference, and the
messages of each check."""

from __future__ import annotations

import json
import random

import pytest

import serving.front_checks as fc
from serving.front_checks import RequestError, check_request, csv_request, json_depth, parse_json_request

BARS = ["timestamp", "open", "high", "low", "close", "volume"]


def reference_depth(text: str) -> int | None:
    """Bracket depth outside strings, one character at a time; None for a backslash outside a string."""
    depth = peak = 0
    inside = escaped = False
    for ch in text:
        if inside:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                inside = False
        elif ch == "\\":
            return None  # not JSON: both answers are refusals, not compared
        elif ch == '"':
            inside = True
        elif ch in "[{":
            depth += 1
            peak = max(peak, depth)
        elif ch in "]}":
            depth -= 1
    return peak


@pytest.mark.parametrize("block", [1, 2, 3, 7, 1 << 20])
def test_depth_scan_matches_the_reference_across_block_edges(monkeypatch, block):
    monkeypatch.setattr(fc, "_BLOCK", block)
    rng = random.Random(block)
    compared = 0
    for _ in range(4000):
        text = "".join(rng.choice('[]{}"\\a') for _ in range(rng.randint(0, 30)))
        expected = reference_depth(text)
        if expected is None:
            continue
        compared += 1
        assert json_depth(text.encode()) == expected, text
    assert compared > 1000


def test_depth_of_real_bodies():
    assert json_depth(b"[" * 100_000 + b"]" * 100_000) == 100_000
    assert json_depth(json.dumps({"dataframe_split": {"columns": ["a"], "data": [["[[{"]]}}).encode()) == 4
    assert json_depth(b'{"a": "\\\\", "b": [[1]]}') == 3  # an escaped backslash does not escape the quote


def test_parse_refuses_depth_encoding_json_and_lists():
    with pytest.raises(RequestError, match=r"^invalid request: \[json_depth\] JSON nested 40 levels"):
        parse_json_request(b"[" * 40 + b"]" * 40, max_depth=32)
    with pytest.raises(RequestError, match=r"^invalid request: \[encoding\]"):
        parse_json_request(b'{"a": "\xff"}', max_depth=32)
    with pytest.raises(RequestError, match=r"^invalid request: \[json\]"):
        parse_json_request(b"{", max_depth=32)
    with pytest.raises(RequestError, match=r"^invalid request: \[format\] .* got a list"):
        parse_json_request(b"[1]", max_depth=32)
    with pytest.raises(RequestError, match=r"^invalid request: \[columns\] duplicate key 'open'"):
        parse_json_request(b'{"dataframe_records": [{"open": 1, "open": 2}]}', max_depth=32)


def _split(columns, params=None):
    body = {"dataframe_split": {"columns": columns, "data": []}}
    if params is not None:
        body["params"] = params
    return body


def test_request_checks_name_what_is_wrong():
    check_request(_split(BARS, {"last_only": True}), BARS, ["last_only"])  # a good one passes
    cases = [
        (_split([*BARS, "close"]), r"\[columns\] duplicate column 'close'"),
        (_split(BARS[:-1]), r"\[columns\] missing column 'volume'"),
        (_split([f"c{i}" for i in range(65)]), r"\[columns\] 65 columns; at most 64"),
        (_split(BARS, {"foo": 1}), r"\[params\] unknown param 'foo'; this model accepts 'last_only'"),
        (_split(BARS, [1]), r"\[params\] 'params' must be a JSON object"),
        ({"rows": []}, r"\[format\] .*got 'rows'"),
        ({"dataframe_split": [], "inputs": {}}, r"\[format\]"),
        ({"dataframe_split": {"data": []}}, r"\[format\] 'dataframe_split' must be"),
        ({"dataframe_records": [{c: 1 for c in BARS}, {"x": 1}]}, None),
    ]
    for body, pattern in cases:
        if pattern is None:
            check_request(body, BARS, ["last_only"])
            continue
        with pytest.raises(RequestError, match=r"^invalid request: " + pattern):
            check_request(body, BARS, ["last_only"])


def test_csv_becomes_dataframe_split():
    text = "timestamp,open,high,low,close,volume\n2024-01-02T14:30:00+00:00,1.5,2,1,1.75,10\n"
    assert csv_request(text.encode()) == {"dataframe_split": {
        "columns": BARS, "data": [["2024-01-02T14:30:00+00:00", 1.5, 2, 1, 1.75, 10]]}}
    with pytest.raises(RequestError, match=r"^invalid request: \[columns\] duplicate column 'close'"):
        csv_request(b"timestamp,close,close\n1,2,3\n")
    with pytest.raises(RequestError, match=r"^invalid request: \[csv\] the body needs a header row"):
        csv_request(b"")


def test_mlflow_errors_are_cleaned():
    from serving.front_app import MAX_MESSAGE, clean_error

    frame = "      timestamp  close\n0  2024-01-01  1.0\n" * 50
    raw = json.dumps({"error_code": "INVALID_PARAMETER_VALUE", "stack_trace": "Traceback ...",
                      "message": f"Failed to predict data '{frame}'. \nError: invalid bars: [nan] column 'close': 3 "
                                 "rows missing (NaN)"}).encode()
    assert clean_error(400, raw) == "invalid bars: [nan] column 'close': 3 rows missing (NaN)"
    other = clean_error(400, b'{"message": "cannot read /srv/app/models/x.pkl and C:/y: ' + b"x" * 5000 + b'"}')
    assert other.startswith("invalid request: [mlflow] cannot read <path> and C:/y")
    assert len(other) == MAX_MESSAGE and other.endswith("...")
    assert clean_error(500, b"Internal Server Error ... /srv/app") == (
        "the server failed on this request; its log has the details")
    assert clean_error(415, b"This predictor only supports ...").startswith("invalid request: [content_type] ")
