"""Webhook: JSON POST to a local receiver, retries with backoff, rejected 4xx, refused connections, the queue on
disk across restarts, its bound, and the worker thread with a receiver that hangs."""

from __future__ import annotations

import json
import logging
import time

from monitoring_helpers import Receiver, free_port
from test_monitor_alerts import _alert

from monitoring.alerts import JsonlAlerts
from monitoring.config import WebhookConfig
from monitoring.webhook import DELIVERY_FILE, WebhookSink
from monitoring.webhook_queue import QUEUE_FOLDER


def _sink(tmp_path, url, **kw):
    alerts = JsonlAlerts(tmp_path / "a.jsonl")
    cfg = WebhookConfig(url=url, timeout_s=kw.pop("timeout_s", 2), retries=kw.pop("retries", 2), backoff_s=0.01,
                        max_backoff_s=kw.pop("max_backoff_s", 0.02), **kw)
    return alerts, WebhookSink(cfg, tmp_path / "state", alerts, {"m"})


def _alerts(n):
    return [_alert(key=f"rows:f:{i}:200") for i in range(n)]


def _records(tmp_path):
    return [json.loads(line) for line in (tmp_path / "state" / DELIVERY_FILE).read_text().splitlines()]


def _queued(tmp_path):
    return sorted(p.name for p in (tmp_path / "state" / QUEUE_FOLDER).iterdir())


def test_post_retries_a_500_then_delivers_the_json_body(tmp_path):
    with Receiver(codes=[500]) as rx:
        alerts, sink = _sink(tmp_path, rx.url)
        alert = _alert()
        alerts.append(alert)
        assert sink.enqueue(alert) == "queued" and _queued(tmp_path) == [f"{alert['alert_id']}.json"]
        assert sink.flush() == 1 and sink.pending == 0
    assert rx.attempts == 2 and rx.bodies == [alert]
    assert _queued(tmp_path) == [] and _records(tmp_path)[-1]["outcome"] == "delivered"
    assert sink.enqueue(alert) == "known" and sink.pending == 0  # a re-processed window posts nothing again


def test_refused_connection_keeps_the_alert_queued_and_a_restart_delivers_it(tmp_path):
    alerts, sink = _sink(tmp_path, f"http://127.0.0.1:{free_port()}/hook", max_backoff_s=0.3)
    alerts.append(_alert())
    sink.enqueue(_alert())
    assert sink.flush() == 0 and sink.pending == 1 and sink.failures == 2
    [name] = _queued(tmp_path)
    saved = json.loads((tmp_path / "state" / QUEUE_FOLDER / name).read_text())
    assert saved["attempts"] == 1 and saved["next_try_at"] > time.time() and "ConnectionError" in saved["last_error"]
    with Receiver() as rx:
        # A new process: the alert and its backoff come back from the queue folder.
        _, again = _sink(tmp_path, rx.url)
        assert again.pending == 1 and again.flush() == 0 and rx.attempts == 0  # not due yet
        time.sleep(max(saved["next_try_at"] - time.time(), 0) + 0.01)
        assert again.flush() == 1
        _, third = _sink(tmp_path, rx.url)
        assert third.pending == 0
    assert [b["alert_id"] for b in rx.bodies] == [_alert()["alert_id"]]


def test_a_4xx_rejection_is_recorded_not_retried(tmp_path):
    with Receiver(codes=[422]) as rx:
        alerts, sink = _sink(tmp_path, rx.url)
        alerts.append(_alert())
        sink.enqueue(_alert())
        assert sink.flush() == 0 and sink.pending == 0 and rx.attempts == 1
    assert _records(tmp_path)[-1]["outcome"] == "rejected" and _queued(tmp_path) == []


def test_a_new_webhook_does_not_replay_old_alerts(tmp_path):
    alerts = JsonlAlerts(tmp_path / "a.jsonl")
    alerts.append(_alert())
    with Receiver() as rx:
        _, sink = _sink(tmp_path, rx.url)
        assert sink.pending == 0 and sink.enqueue(_alert()) == "known"


def test_a_state_folder_without_a_queue_takes_over_the_undelivered_alerts(tmp_path):
    # The layout of a daemon that kept no queue: the alerts file and the delivery record only.
    alerts = JsonlAlerts(tmp_path / "a.jsonl")
    first, second = _alerts(2)
    alerts.append(first)
    alerts.append(second)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / DELIVERY_FILE).write_text(json.dumps({"alert_id": first["alert_id"]}) + "\n")
    with Receiver() as rx:
        _, sink = _sink(tmp_path, rx.url)
        assert sink.pending_ids() == [second["alert_id"]] and sink.flush() == 1
    assert [b["alert_id"] for b in rx.bodies] == [second["alert_id"]]


def test_a_full_queue_keeps_the_oldest_and_does_not_queue_new_alerts(tmp_path, caplog):
    dead = f"http://127.0.0.1:{free_port()}/hook"
    alerts, sink = _sink(tmp_path, dead, max_pending=2)
    batch = _alerts(3)
    for a in batch:
        alerts.append(a)
    with caplog.at_level(logging.WARNING, logger="monitoring.webhook"):
        assert [sink.enqueue(a) for a in batch] == ["queued", "queued", "dropped"]
    assert "webhook queue full" in caplog.text and batch[2]["alert_id"] in caplog.text
    assert sink.pending == 2 and sink.dropped == 1 and len(_queued(tmp_path)) == 2
    assert _records(tmp_path)[-1] == {**_records(tmp_path)[-1], "alert_id": batch[2]["alert_id"],
                                      "outcome": "dropped"}
    assert len(alerts.read()) == 3  # the alerts file still has it
    with Receiver() as rx:
        _, again = _sink(tmp_path, rx.url, max_pending=2)
        assert again.enqueue(batch[2]) == "known"  # a dropped alert is not resurrected by a re-processed window
        assert again.drain(5) == 0
    assert [b["alert_id"] for b in rx.bodies] == [a["alert_id"] for a in batch[:2]]


def test_the_worker_delivers_in_the_background_and_enqueue_never_waits_for_a_hanging_receiver(tmp_path):
    with Receiver(hang_s=1.0) as rx:
        alerts, sink = _sink(tmp_path, rx.url, timeout_s=0.3, retries=1, max_backoff_s=0.05)
        sink.start()
        try:
            t0 = time.monotonic()
            for a in _alerts(5):
                alerts.append(a)
                assert sink.enqueue(a) == "queued"
            assert time.monotonic() - t0 < 0.25  # five queue writes, not five timeouts
            deadline = time.monotonic() + 10
            while sink.failures < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert rx.hung >= 2 and rx.bodies == [] and sink.pending == 5 and sink.failures >= 2
            rx.hang_s = 0  # the receiver recovers
            assert sink.drain(10) == 0
        finally:
            sink.stop()
    ids = [a["alert_id"] for a in _alerts(5)]
    assert sorted(b["alert_id"] for b in rx.bodies) == sorted(ids)  # each exactly once
    assert _queued(tmp_path) == []


def test_drain_gives_up_at_its_timeout_and_leaves_the_alert_queued(tmp_path):
    alerts, sink = _sink(tmp_path, f"http://127.0.0.1:{free_port()}/hook", max_backoff_s=0.05)
    alerts.append(_alert())
    sink.enqueue(_alert())
    t0 = time.monotonic()
    try:
        assert sink.drain(0.5) == 1
    finally:
        sink.stop()
    assert 0.4 < time.monotonic() - t0 < 3 and sink.failures >= 4 and len(_queued(tmp_path)) == 1
