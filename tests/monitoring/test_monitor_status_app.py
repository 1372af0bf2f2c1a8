"""The status app: /health, /status, /alerts?since=, /metrics (Prometheus text), in-process and on real uvicorn."""

from __future__ import annotations

import pytest
import requests
from monitoring_helpers import free_port
from test_monitor_alerts import _alert

from monitoring.alerts import JsonlAlerts
from monitoring.status import MonitorStatus
from monitoring.status_app import StatusServer, create_app


@pytest.fixture
def filled(tmp_path):
    status = MonitorStatus()
    status.update("models:/m@champion", name="m", version="3",
                  last_window={"window_index": 7, "drift_share": 0.25, "model_version": "3"})
    status.add("models:/m@champion", "windows", 8)
    status.add("models:/m@champion", "alerts", 2)
    status.error("models:/m@champion", "tracking down")
    alerts = JsonlAlerts(tmp_path / "a.jsonl")
    alerts.append({**_alert(), "created_at": "2026-01-01T00:00:00+00:00"})
    alerts.append({**_alert(version="2"), "created_at": "2026-02-01T00:00:00+00:00"})
    return status, alerts


def test_endpoints(filled):
    from fastapi.testclient import TestClient

    client = TestClient(create_app(*filled))
    assert client.get("/health").json()["status"] == "ok"
    [model] = client.get("/status").json()["models"]
    assert model["version"] == "3" and model["last_window"]["drift_share"] == 0.25 and model["errors"] == 1
    assert client.get("/alerts").json()["count"] == 2
    # "+" in a query string decodes to a space; both spellings of the offset work.
    for since in ("2026-01-15T00:00:00Z", "2026-01-15T00:00:00+00:00"):
        got = client.get("/alerts", params={"since": since}).json()
        assert [a["model_version"] for a in got["alerts"]] == ["2"]
    assert client.get("/alerts?since=2026-01-15T00:00:00+00:00").json()["count"] == 1
    assert client.get("/alerts", params={"since": "yesterday"}).status_code == 400
    r = client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'factory_monitor_windows_total{model_uri="models:/m@champion",model="m"} 8' in text
    assert 'factory_monitor_alerts_total{model_uri="models:/m@champion",model="m"} 2' in text
    assert 'factory_monitor_last_drift_share{model_uri="models:/m@champion",model="m",version="3"} 0.25' in text
    assert "# TYPE factory_monitor_errors_total counter" in text


def test_real_uvicorn_on_localhost_stops_by_itself(filled):
    server = StatusServer(*filled, port=free_port()).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert requests.get(f"{base}/health", timeout=5).json()["status"] == "ok"
        assert "factory_monitor_cycles_total 0" in requests.get(f"{base}/metrics", timeout=5).text
    finally:
        server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/health", timeout=2)
