"""Delivering alerts to an HTTP webhook from a worker thread, out of a bounded queue kept on disk.

The daemon hands each new alert to :meth:`WebhookSink.enqueue`, which writes it to the queue folder
(:mod:`monitoring.webhook_queue`) and returns at once; window processing never waits for the receiver. A worker
thread POSTs each queued alert (JSON body, ``X-Factory-Alert-Id`` header), oldest first. A delivery round is up
to ``retries`` tries, ``backoff_s``, ``2*backoff_s``, ... apart; after a failed round the alert waits, doubling
from ``backoff_s * 2**retries`` up to ``max_backoff_s``, and the count and the due time are written to its file,
so a restart continues the backoff where it stopped.

``<state_dir>/webhook.jsonl`` records every alert that was delivered, refused by the receiver (a 4xx other than
408 and 429), dropped (below) or already in the alerts file when the webhook was first configured (no replay of
old alerts). An alert is recorded there before its queue file is removed, and an id found there is never queued
again: the receiver sees each alert once, unless the daemon dies between the receiver's answer and that record,
in which case the alert is posted again at the next start (receivers dedupe by ``alert_id``).

The queue holds at most ``max_pending`` alerts. When it is full the oldest stay queued and a new alert is not
queued: it is still in the alerts JSONL file, the record says ``dropped``, a warning is logged and the
``webhook_dropped`` counter of the status grows. The bound keeps a receiver that is down for days from growing
the folder without limit; window processing never stops for it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from monitoring import crashpoints
from monitoring.alerts import JsonlAlerts
from monitoring.config import WebhookConfig
from monitoring.webhook_queue import QUEUE_FOLDER, AlertQueue, PendingAlert

logger = logging.getLogger(__name__)

DELIVERY_FILE = "webhook.jsonl"
# 4xx answers that are worth retrying: timeout and rate limiting; any other 4xx means the body is refused.
RETRYABLE_4XX = (408, 429)


class WebhookSink:
    """The queue of alerts for ``config.url`` and the worker thread that delivers them.

    ``models``: registered names whose undelivered alerts are taken over from the alerts file when a state folder
    written before the queue existed is opened. ``on_change(sink)`` is called after every change of the counters.
    """

    def __init__(self, config: WebhookConfig, state_dir: str | Path, alerts: JsonlAlerts, models: set[str],
                 session=None, on_change: Callable[[WebhookSink], None] | None = None) -> None:
        import requests

        self.config = config
        self.log_path = Path(state_dir) / DELIVERY_FILE
        self.queue = AlertQueue(Path(state_dir) / QUEUE_FOLDER)
        self.session = session or requests.Session()
        self.on_change = on_change
        self.failures = 0
        self.delivered = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._force = threading.Event()  # try every pending alert now, whatever its due time (a --once drain)
        self._round_done = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = self._read_done()
        if not self.queue.exists():
            self._open_first_time(alerts, set(models))
        self._pending: dict[str, PendingAlert] = {}
        for item in self.queue.load():
            if item.alert_id in self._done:
                self.queue.remove(item.alert_id)  # killed between its record and the file's removal
            else:
                self._pending[item.alert_id] = item

    def _open_first_time(self, alerts: JsonlAlerts, models: set[str]) -> None:
        if not self.log_path.exists():
            # A new webhook does not replay the alerts raised before it existed.
            self._record([a["alert_id"] for a in alerts.read()], "existing")
            self.queue.create()
            return
        # A state folder of a daemon that kept no queue: what it had not delivered is still owed. The folder is
        # filled under a temporary name and renamed, so a crash here leaves no half-filled queue.
        tmp = AlertQueue(self.queue.folder.with_name(f".{QUEUE_FOLDER}.tmp"))
        if tmp.exists():
            shutil.rmtree(tmp.folder)
        tmp.create()
        for a in alerts.read():
            if a["alert_id"] not in self._done and a.get("model_name") in models:
                tmp.put(PendingAlert(a, enqueued_at=time.time()))
        os.replace(tmp.folder, self.queue.folder)
        self.queue.create()  # fsyncs the rename

    # ------------------------------------------------------------------------------------------------ state
    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def pending_ids(self) -> list[str]:
        with self._lock:
            return list(self._pending)

    def enqueue(self, alert: dict[str, Any]) -> str:
        """Queue ``alert`` durably: ``"queued"``, ``"known"`` (queued or recorded already) or ``"dropped"``."""
        aid = alert["alert_id"]
        with self._lock:
            if aid in self._pending or aid in self._done:
                return "known"
            if len(self._pending) >= self.config.max_pending:
                self._record([aid], "dropped")
                self.dropped += 1
                outcome = "dropped"
            else:
                item = PendingAlert(alert, enqueued_at=time.time())
                self.queue.put(item)
                self._pending[aid] = item
                outcome = "queued"
        if outcome == "dropped":
            logger.warning("webhook queue full (%d alerts waiting, webhook.max_pending): alert %s is not queued "
                           "and will not be posted; it is in the alerts file", self.config.max_pending, aid)
        self._wake.set()
        self._changed()
        return outcome

    def _read_done(self) -> set[str]:
        if not self.log_path.is_file():
            return set()
        done = set()
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                done.add(json.loads(line)["alert_id"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line torn by a crash: its alert is still queued and is posted again
        return done

    def _record(self, ids: list[str], outcome: str, status: int | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        at = datetime.now(timezone.utc).isoformat()
        text = "".join(json.dumps({"alert_id": i, "outcome": outcome, "http_status": status, "at": at}) + "\n"
                       for i in ids)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # A torn last line (power loss) must not swallow this one.
            if os.fstat(fd).st_size and not _ends_with_newline(self.log_path):
                text = "\n" + text
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self._done.update(ids)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    # ------------------------------------------------------------------------------------------------ delivery
    def flush(self, force: bool = False) -> int:
        """One pass over the due alerts (every pending one with ``force``); returns how many were delivered.

        The worker calls it; call it directly only when the worker is not started."""
        now = time.time()
        with self._lock:
            due = [i for i in self._pending.values() if force or i.next_try_at <= now]
        sent = 0
        for item in due:
            if self._stop.is_set():
                break
            outcome, status, error = self._post(item.alert)
            aid = item.alert_id
            if outcome in ("delivered", "rejected"):
                if outcome == "delivered":
                    crashpoints.reached("webhook_delivered")
                with self._lock:
                    self._record([aid], outcome, status)
                    self.queue.remove(aid)
                    self._pending.pop(aid, None)
                crashpoints.reached("webhook_acked")
                if outcome == "delivered":
                    sent += 1
                    self.delivered += 1
                else:
                    logger.error("webhook %s rejected alert %s with HTTP %s; not retried", self.config.url, aid, status)
            else:
                item.attempts += 1
                delay = min(self.config.backoff_s * 2 ** (item.attempts + self.config.retries - 1),
                            self.config.max_backoff_s)
                item.next_try_at = time.time() + delay
                item.last_error = error
                with self._lock:
                    if aid in self._pending:
                        self.queue.put(item)
                    n = len(self._pending)
                logger.warning("webhook %s: alert %s not delivered (%s); retrying in %.3g s (%d alert(s) pending)",
                               self.config.url, aid, error, delay, n)
            self._changed()
        return sent

    def _post(self, alert: dict[str, Any]) -> tuple[str, int | None, str]:
        """("delivered" | "rejected" | "failed", HTTP status, error text) after up to ``retries`` tries."""
        import requests

        error, status = "", None
        for attempt in range(self.config.retries):
            if attempt and self._stop.wait(self.config.backoff_s * 2 ** (attempt - 1)):
                break
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

    # ------------------------------------------------------------------------------------------------ worker
    def start(self) -> WebhookSink:
        """Start the worker thread (once)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._work, name="webhook", daemon=True)
            self._thread.start()
        return self

    def _work(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            force = self._force.is_set()
            self._force.clear()
            try:
                self.flush(force=force)
            except Exception:  # noqa: BLE001 - disk full, an unexpected answer: the worker must outlive it
                logger.exception("webhook worker (queue %s); trying again in 5 s", self.queue.folder)
                self._stop.wait(5.0)
            if force:
                self._round_done.set()
            with self._lock:
                due = min((i.next_try_at for i in self._pending.values()), default=None)
            self._wake.wait(None if due is None else max(due - time.time(), 0.0))

    def drain(self, timeout_s: float, stop: threading.Event | None = None) -> int:
        """Try every pending alert at least once, then keep delivering until none is left, ``timeout_s`` has
        passed (an alert due only after that is not waited for) or ``stop`` is set; returns how many are left."""
        self.start()
        deadline = time.time() + timeout_s
        self._round_done.clear()
        self._force.set()
        self._wake.set()
        while True:
            with self._lock:
                if not self._pending:
                    return 0
                first_due = min(i.next_try_at for i in self._pending.values())
            now = time.time()
            if now >= deadline or (self._round_done.is_set() and first_due > deadline) or \
                    (stop is not None and stop.is_set()):
                return self.pending
            time.sleep(min(0.05, deadline - now))

    def stop(self) -> None:
        """Stop the worker; an alert being posted is left queued if its POST does not end within the timeout."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.config.timeout_s + 1.0)
            self._thread = None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"
