"""Webhook: JSON POST to a local receiver, retries with backoff, rejected 4xx, refused connections, restarts."""

from __future__ import annotations

from monitoring_helpers import Receiver, free_port
from test_monitor_alerts import _alert

from monitoring.alerts import JsonlAlerts
from monitoring.config import WebhookConfig
from monitoring.webhook import WebhookSink


def _sink(tmp_path, url, **kw):
    alerts = JsonlAlerts(tmp_path / "a.jsonl")
    cfg = WebhookConfig(url=url, timeout_s=2, retries=kw.pop("retries", 2), backoff_s=0.01, max_backoff_s=0.02)
    return alerts, WebhookSink(cfg, tmp_path / "state", alerts, {"m"})


def test_post_retries_a_500_then_delivers_the_json_body(tmp_path):
    with Receiver(codes=[500]) as rx:
        alerts, sink = _sink(tmp_path, rx.url)
        alert = _alert()
        alerts.append(alert)
        sink.enqueue(alert)
        assert sink.flush() == 1 and sink.pending == 0
    assert rx.attempts == 2 and rx.bodies == [alert]


def test_refused_connection_keeps_the_alert_pending_and_a_restart_delivers_it(tmp_path):
    alerts, sink = _sink(tmp_path, f"http://127.0.0.1:{free_port()}/hook")
    alerts.append(_alert())
    sink.enqueue(_alert())
    assert sink.flush() == 0 and sink.pending == 1 and sink.failures == 2
    with Receiver() as rx:
        # A new process: the pending alert is found from the JSONL file and the delivery record.
        _, again = _sink(tmp_path, rx.url)
        assert again.pending == 1 and again.flush() == 1
        _, third = _sink(tmp_path, rx.url)
        assert third.pending == 0
    assert [b["alert_id"] for b in rx.bodies] == [_alert()["alert_id"]]


def test_a_4xx_rejection_is_recorded_not_retried(tmp_path):
    with Receiver(codes=[422]) as rx:
        alerts, sink = _sink(tmp_path, rx.url)
        alerts.append(_alert())
        sink.enqueue(_alert())
        assert sink.flush() == 0 and sink.pending == 0 and rx.attempts == 1


def test_a_new_webhook_does_not_replay_old_alerts(tmp_path):
    alerts = JsonlAlerts(tmp_path / "a.jsonl")
    alerts.append(_alert())
    with Receiver() as rx:
        _, sink = _sink(tmp_path, rx.url)
        assert sink.pending == 0
