"""A small HTTP status app for the drift daemon (FastAPI, served by uvicorn on 127.0.0.1 in a thread).

* ``GET /health``            ``{"status": "ok", "uptime_s": ...}``
* ``GET /status``            per watched model: resolved version, last window and its drift share, counters
* ``GET /alerts?since=ISO``  alerts from the JSONL file created at or after ``since`` (all without it)
* ``GET /metrics``           Prometheus text format: windows, alerts, errors, last drift share, webhook
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime

from monitoring.alerts import JsonlAlerts
from monitoring.status import MonitorStatus

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HOST = "127.0.0.1"


def parse_since(text: str) -> datetime:
    """ISO 8601 time; a ``+hh:mm`` offset whose ``+`` a query string decoded into a space is repaired."""
    text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", text.strip())
    return datetime.fromisoformat(text)


def create_app(status: MonitorStatus, alerts: JsonlAlerts):
    from fastapi import FastAPI, HTTPException, Query
    from fastapi.responses import PlainTextResponse

    app = FastAPI(title="factory drift monitor", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "uptime_s": round(time.time() - status.started_at, 3)}

    @app.get("/status")
    def get_status() -> dict:
        return status.snapshot()

    @app.get("/alerts")
    def get_alerts(since: str | None = Query(None, description="ISO 8601 time; alerts created at or after it")):
        bound = None
        if since:
            try:
                bound = parse_since(since)
            except ValueError:
                raise HTTPException(400, f"since: '{since}' is not an ISO 8601 time (e.g. 2026-01-31T12:00:00Z)")
        found = alerts.read(since=bound)
        return {"count": len(found), "alerts": found}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(status.prometheus(), media_type=PROMETHEUS_TYPE)

    return app


class StatusServer:
    """uvicorn serving :func:`create_app` on 127.0.0.1 in a daemon thread; :meth:`stop` ends it."""

    def __init__(self, status: MonitorStatus, alerts: JsonlAlerts, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(create_app(status, alerts), host=HOST, port=int(port), log_level="warning",
                                access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.port = int(port)
        self._thread = threading.Thread(target=self.server.run, name="factory-monitor-status", daemon=True)

    def start(self, timeout: float = 10.0) -> "StatusServer":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the status app could not listen on {HOST}:{self.port}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)
