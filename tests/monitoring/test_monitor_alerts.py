"""Alert ids are deterministic; the JSONL file dedupes by id, survives a torn line and filters by time."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd

from monitoring.alerts import JsonlAlerts, alert_id, make_alert
from monitoring.drift import DriftResult


def _result(share=0.5):
    return DriftResult(drift_share=share, drifted_columns=["a"], scores={"a": 1.0, "b": 0.1}, n_columns=2,
                       drift=True, method="wasserstein", column_threshold=0.75, share_threshold=0.15)


def _alert(version="1", key="rows:f:0:200"):
    return make_alert(model_uri="models:/m@champion", name="m", version=version, window_index=3, window_key=key,
                      window_start=pd.Timestamp("2026-01-05", tz="UTC"), window_end="2026-01-05T01:00:00Z",
                      n_rows=200, result=_result(), report_html="r.html")


CONTRACT = {"alert_id", "model_uri", "model_version", "window_start", "window_end", "n_rows", "drift_share",
            "drifted_columns", "threshold", "report_html", "created_at"}


def test_alert_fields_and_deterministic_id():
    a, b = _alert(), _alert()
    assert CONTRACT <= set(a) and a["alert_id"] == b["alert_id"] and a["window_end"] == "2026-01-05T01:00:00+00:00"
    assert _alert(version="2")["alert_id"] != a["alert_id"]
    assert _alert(key="rows:f:200:200")["alert_id"] != a["alert_id"]
    assert a["alert_id"] == alert_id("m", "1", "rows:f:0:200", a["window_start"], a["window_end"])


def test_jsonl_dedupes_across_instances_and_survives_a_torn_line(tmp_path):
    path = tmp_path / "a.jsonl"
    sink = JsonlAlerts(path)
    assert sink.append(_alert()) and not sink.append(_alert())
    with open(path, "a") as fh:
        fh.write('{"alert_id": "torn"')  # a crash in the middle of a line
    again = JsonlAlerts(path)
    assert _alert()["alert_id"] in again and not again.append(_alert())
    assert again.append(_alert(version="2"))
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["model_version"] == "2"


def test_read_since_filters_on_creation_time(tmp_path):
    sink = JsonlAlerts(tmp_path / "a.jsonl")
    old = {**_alert(), "created_at": "2020-01-01T00:00:00+00:00"}
    sink.append(old)
    sink.append(_alert(version="2"))
    assert len(sink.read()) == 2
    assert [a["model_version"] for a in sink.read(since=datetime(2021, 1, 1, tzinfo=timezone.utc))] == ["2"]
