"""The daemon's live counters and last results, shared with the status app (thread-safe).

Counters start at zero with each process (Prometheus treats a restart as a counter reset); the durable record is
the JSONL file and the state folder.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass
class ModelStatus:
    model_uri: str
    name: str | None = None
    version: str | None = None
    windows: int = 0
    alerts: int = 0
    skipped_windows: int = 0
    errors: int = 0
    last_window: dict[str, Any] | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    last_cycle_at: str | None = None
    pending_rows: int = 0


@dataclass
class MonitorStatus:
    started_at: float = field(default_factory=time.time)
    cycles: int = 0
    webhook_failures: int = 0
    webhook_pending: int = 0
    webhook_dropped: int = 0
    models: dict[str, ModelStatus] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def tick(self) -> None:
        with self._lock:
            self.cycles += 1

    def set_webhook(self, pending: int, failures: int, dropped: int) -> None:
        with self._lock:
            self.webhook_pending, self.webhook_failures, self.webhook_dropped = pending, failures, dropped

    def model(self, uri: str) -> ModelStatus:
        with self._lock:
            return self.models.setdefault(uri, ModelStatus(uri))

    def update(self, uri: str, **changes) -> None:
        with self._lock:
            m = self.models.setdefault(uri, ModelStatus(uri))
            for k, v in changes.items():
                setattr(m, k, v)

    def add(self, uri: str, counter: str, n: int = 1) -> None:
        with self._lock:
            m = self.models.setdefault(uri, ModelStatus(uri))
            setattr(m, counter, getattr(m, counter) + n)

    def error(self, uri: str, message: str) -> None:
        with self._lock:
            m = self.models.setdefault(uri, ModelStatus(uri))
            m.errors += 1
            m.last_error = message
            m.last_error_at = datetime.now(timezone.utc).isoformat()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "started_at": datetime.fromtimestamp(self.started_at, timezone.utc).isoformat(),
                "uptime_s": round(time.time() - self.started_at, 3),
                "cycles": self.cycles,
                "webhook_failures": self.webhook_failures,
                "webhook_pending": self.webhook_pending,
                "webhook_dropped": self.webhook_dropped,
                "models": [asdict(m) for m in self.models.values()],
            }

    def prometheus(self) -> str:
        """The counters in the Prometheus text exposition format (version 0.0.4)."""
        snap = self.snapshot()
        lines: list[str] = []

        def family(name: str, kind: str, help_: str, samples: list[tuple[dict[str, str], float]]) -> None:
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
                lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")

        models = snap["models"]

        def per_model(key: str) -> list[tuple[dict[str, str], float]]:
            return [({"model_uri": m["model_uri"], "model": m["name"] or ""}, m[key]) for m in models]

        family("factory_monitor_windows_total", "counter", "Windows compared with the reference.",
               per_model("windows"))
        family("factory_monitor_alerts_total", "counter", "Drift alerts raised.", per_model("alerts"))
        family("factory_monitor_skipped_windows_total", "counter", "Windows skipped (too few rows).",
               per_model("skipped_windows"))
        family("factory_monitor_errors_total", "counter", "Cycle errors (tracking unreachable, bad data).",
               per_model("errors"))
        family("factory_monitor_pending_rows", "gauge", "Log rows read but not yet in a complete window.",
               per_model("pending_rows"))
        shares = [({"model_uri": m["model_uri"], "model": m["name"] or "",
                    "version": str(m["last_window"].get("model_version", ""))}, m["last_window"]["drift_share"])
                  for m in models if m["last_window"] and m["last_window"].get("drift_share") is not None]
        family("factory_monitor_last_drift_share", "gauge", "Drift share of the last compared window.", shares)
        family("factory_monitor_cycles_total", "counter", "Daemon cycles run.", [({}, snap["cycles"])])
        family("factory_monitor_webhook_failures_total", "counter", "Failed webhook attempts.",
               [({}, snap["webhook_failures"])])
        family("factory_monitor_webhook_pending", "gauge", "Alerts not yet delivered to the webhook.",
               [({}, snap["webhook_pending"])])
        family("factory_monitor_webhook_dropped_total", "counter", "Alerts not queued for the webhook (queue full).",
               [({}, snap["webhook_dropped"])])
        family("factory_monitor_uptime_seconds", "gauge", "Seconds since the daemon started.",
               [({}, snap["uptime_s"])])
        return "\n".join(lines) + "\n"


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: Any) -> str:
    v = float(value)
    return str(int(v)) if v.is_integer() else repr(v)
