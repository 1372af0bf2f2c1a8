"""Delivering alerts to an HTTP webhook: POST with a JSON body, retries with exponential backoff, at least once.

The JSONL file is the source of truth; this sink only records, in ``<state_dir>/webhook.jsonl``, which alerts it
has delivered (or the receiver rejected with a 4xx). Every alert of the watched models that is in the JSONL file
and not recorded there is pending: after a crash, an alert that was written but not yet posted is posted at the
next start. A receiver can see an alert twice (killed between the POST and its record), so it should dedupe by
``alert_id``. A failing webhook never stops the daemon: each cycle tries every due alert ``retries`` times with
backoff, then leaves it pending for a later cycle (delays doubling up to ``max_backoff_s``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from monitoring.alerts import JsonlAlerts
from monitoring.config import WebhookConfig

logger = logging.getLogger(__name__)

DELIVERY_FILE = "webhook.jsonl"
# 4xx answers that are worth retrying: timeout and rate limiting; any other 4xx means the body is refused.
RETRYABLE_4XX = (408, 429)


@dataclass
class _Pending:
    alert: dict[str, Any]
    attempts: int = 0
    next_try: float = 0.0


class WebhookSink:
    """Pending alerts of ``models`` and their delivery to ``config.url``."""

    def __init__(self, config: WebhookConfig, state_dir: str | Path, alerts: JsonlAlerts, models: set[str],
                 session=None) -> None:
        import requests

        self.config = config
        self.models = set(models)
        self.log_path = Path(state_dir) / DELIVERY_FILE
        self.session = session or requests.Session()
        self.failures = 0
        self.delivered = 0
        if not self.log_path.exists():
            # Starting a webhook does not replay the alerts raised before it existed.
            self._record([a["alert_id"] for a in alerts.read()], "existing")
        done = self._done()
        self._pending: dict[str, _Pending] = {
            a["alert_id"]: _Pending(a) for a in alerts.read()
            if a["alert_id"] not in done and a.get("model_name") in self.models}

    @property
    def pending(self) -> int:
        return len(self._pending)

    def enqueue(self, alert: dict[str, Any]) -> None:
        self._pending.setdefault(alert["alert_id"], _Pending(alert))

    def _done(self) -> set[str]:
        if not self.log_path.is_file():
            return set()
        done = set()
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                done.add(json.loads(line)["alert_id"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
        return done

    def _record(self, ids: list[str], outcome: str, status: int | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        at = datetime.now(timezone.utc).isoformat()
        text = "".join(json.dumps({"alert_id": i, "outcome": outcome, "http_status": status, "at": at}) + "\n"
                       for i in ids)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def flush(self, now: float | None = None) -> int:
        """Try every due pending alert; returns how many were delivered. Never raises for HTTP problems."""
        now = time.monotonic() if now is None else now
        sent = 0
        for aid, item in list(self._pending.items()):
            if item.next_try > now:
                continue
            outcome, status, error = self._post(item.alert)
            if outcome in ("delivered", "rejected"):
                self._record([aid], outcome, status)
                del self._pending[aid]
                if outcome == "delivered":
                    sent += 1
                    self.delivered += 1
                else:
                    logger.error("webhook %s rejected alert %s with HTTP %s; not retried", self.config.url, aid, status)
                continue
            item.attempts += 1
            delay = min(self.config.backoff_s * 2 ** (item.attempts + self.config.retries - 1),
                        self.config.max_backoff_s)
            item.next_try = time.monotonic() + delay
            logger.warning("webhook %s: alert %s not delivered (%s); retrying in %.0f s (%d alert(s) pending)",
                           self.config.url, aid, error, delay, len(self._pending))
        return sent

    def _post(self, alert: dict[str, Any]) -> tuple[str, int | None, str]:
        """("delivered" | "rejected" | "failed", HTTP status, error text) after up to ``retries`` tries."""
        import requests

        error, status = "", None
        for attempt in range(self.config.retries):
            if attempt:
                time.sleep(self.config.backoff_s * 2 ** (attempt - 1))
            try:
                r = self.session.post(self.config.url, json=alert, timeout=self.config.timeout_s,
                                      headers={"X-Factory-Alert-Id": alert["alert_id"]})
            except requests.RequestException as exc:
                self.failures += 1
                error, status = f"{type(exc).__name__}: {exc}", None
                continue
            status = r.status_code
            if 200 <= status < 300:
                return "delivered", status, ""
            if 400 <= status < 500 and status not in RETRYABLE_4XX:
                self.failures += 1
                return "rejected", status, f"HTTP {status}"
            self.failures += 1
            error = f"HTTP {status}"
        return "failed", status, error
