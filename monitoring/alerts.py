"""Drift alerts: their fields, their deterministic ids, and the JSONL file that is their durable record.

An alert's id is a hash of the model name, the version and the window (its key, start and end), so processing
the same window again, after a crash for instance, yields the same id; :class:`JsonlAlerts` refuses an id it
already holds. Each alert is appended as one line with a single ``write`` and then ``fsync``-ed before the daemon
moves its position past the window: killed at any moment, the daemon neither loses nor repeats an alert.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)


def alert_id(name: str, version: str, window_key: str, window_start: str, window_end: str) -> str:
    """32 hex characters of SHA-256 over the model, version and window identity."""
    text = "\n".join([str(name), str(version), window_key, window_start, window_end])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def utc(ts) -> pd.Timestamp:
    """A timestamp-like value as a UTC ``Timestamp`` (naive values are read as UTC)."""
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def iso(ts) -> str:
    """ISO 8601 text in UTC of a timestamp-like value."""
    return utc(ts).isoformat()


def make_alert(*, model_uri: str, name: str, version: str, window_index: int, window_key: str, window_start,
               window_end, n_rows: int, result, report_html: str | None,
               threshold_fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The alert of one drifting window (``result``: a :class:`~monitoring.drift.DriftResult`).

    ``threshold`` is the share the window exceeded; ``threshold_fields`` (``threshold_mode``, ``null_quantile``,
    ``null_level``, ...; see :meth:`monitoring.calibration.ShareThreshold.alert_fields`) say where it comes from.
    """
    start, end = iso(window_start), iso(window_end)
    alert = {
        "alert_id": alert_id(name, version, window_key, start, end),
        "model_uri": model_uri,
        "model_name": name,
        "model_version": str(version),
        "window_index": int(window_index),
        "window_start": start,
        "window_end": end,
        "n_rows": int(n_rows),
        "drift_share": float(result.drift_share),
        "drifted_columns": list(result.drifted_columns),
        "n_columns": int(result.n_columns),
        "threshold": float(result.share_threshold),
        "method": result.method,
        "column_threshold": float(result.column_threshold),
        "report_html": report_html,
        "created_at": datetime.now(timezone.utc).isoformat(),
    }
    alert.update({k: v for k, v in (threshold_fields or {}).items() if k not in alert})
    return alert


class JsonlAlerts:
    """Append-only JSONL file of alerts with id-based deduplication; thread-safe within one process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._ids = {a["alert_id"] for a in self.read()}

    def __contains__(self, alert_id_: str) -> bool:
        return alert_id_ in self._ids

    @property
    def ids(self) -> set[str]:
        return set(self._ids)

    def append(self, alert: dict[str, Any]) -> bool:
        """Append ``alert`` durably; False (nothing written) when its id is already in the file."""
        with self._lock:
            if alert["alert_id"] in self._ids:
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = (json.dumps(alert, sort_keys=True) + "\n").encode()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                # A line torn by a crash (power loss) must not glue itself to the next one.
                if os.fstat(fd).st_size and not self._ends_with_newline():
                    line = b"\n" + line
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._ids.add(alert["alert_id"])
            return True

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    def read(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Every alert in the file (optionally only those created at or after ``since``), oldest first."""
        if not self.path.is_file():
            return []
        out = []
        # The lock keeps a reader in this process (the status app) from seeing a line being appended.
        with self._lock, open(self.path, encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    alert = json.loads(line)
                except json.JSONDecodeError:
                    logger.warning("%s: line %d is not JSON (torn write?); ignored", self.path, n)
                    continue
                if not isinstance(alert, dict) or "alert_id" not in alert:
                    continue
                if since is not None and not _at_or_after(alert.get("created_at"), since):
                    continue
                out.append(alert)
        return out


def _at_or_after(text: Any, since: datetime) -> bool:
    try:
        return utc(text) >= utc(since)
    except (ValueError, TypeError):
        return False
