"""The daemon in-process on a SQLite registry: windows, alerts to every sink, waiting, resuming, switching versions,
and an unreachable tracking store that pauses it without losing its place."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from monitoring_helpers import Receiver, free_port, monitor_config, normal_frame, register_model, write_log

from monitoring.daemon import DriftMonitor
from monitoring.tracking import MODEL_TAG, VERSION_TAG

NAME = "mes-test"
URI = f"models:/{NAME}@champion"


def _log(folder, shifted, n_windows=None, rows=200, seed=0, start=None, sizes=(1, 37, 90)):
    """``n_windows`` windows of ``rows`` rows; those in ``shifted`` moved by 2 std on 4 of 6 columns."""
    n_windows = n_windows or (max(shifted) + 1)
    frames = [normal_frame(rows, 100 * seed + i, shift=2.0 if i in shifted else 0.0) for i in range(n_windows)]
    kw = {"start": start} if start is not None else {}
    return write_log(folder / "log", NAME, pd.concat(frames, ignore_index=True), list(sizes), seed=seed, **kw)


def _alerts(folder, file="alerts.jsonl"):
    path = folder / file
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _metric_history(client, version, key):
    exp = client.get_experiment_by_name("factory-monitoring")
    query = f"tags.`{MODEL_TAG}` = '{NAME}' and tags.`{VERSION_TAG}` = '{version}'"
    run = client.search_runs([exp.experiment_id], query)[0]
    return sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))


def test_shifted_windows_alert_to_every_sink(registry):
    client, tmp = registry
    v1 = register_model(client, tmp / "m1", NAME, normal_frame(1000, 1))
    _log(tmp, shifted={1, 4}, n_windows=5)
    with Receiver() as rx:
        monitor = DriftMonitor(monitor_config(tmp, webhook={"url": rx.url}), [URI], tmp / "log")
        assert monitor.run(once=True)
    alerts = _alerts(tmp)
    assert [a["window_index"] for a in alerts] == [1, 4]
    a = alerts[0]
    assert a["model_uri"] == URI and a["model_version"] == v1 and a["n_rows"] == 200 and a["threshold"] == 0.15
    assert a["drift_share"] == pytest.approx(4 / 6) and a["drifted_columns"] == ["f0", "f1", "f2", "f3"]
    assert a["report_html"] and (tmp / a["report_html"]).is_file()
    assert [b["alert_id"] for b in rx.bodies] == [x["alert_id"] for x in alerts]
    mv = client.get_model_version(NAME, v1)
    assert mv.tags["drift_status"] == "drift" and float(mv.tags["drift_share"]) == pytest.approx(4 / 6, abs=1e-4)
    shares = _metric_history(client, v1, "drift_share")
    assert [s for s, _ in shares] == [0, 1, 2, 3, 4] and shares[1][1] == pytest.approx(4 / 6)
    assert len(_metric_history(client, v1, "column_drift/f0")) == 5
    snap = monitor.status.snapshot()["models"][0]
    assert snap["windows"] == 5 and snap["alerts"] == 2 and snap["last_window"]["window_index"] == 4


def test_an_incomplete_window_waits_and_a_restart_resumes_without_repeats(registry):
    client, tmp = registry
    register_model(client, tmp / "m1", NAME, normal_frame(1000, 1))
    all_rows = pd.concat([normal_frame(200, i, shift=2.0 if i in (1, 2) else 0.0) for i in range(3)],
                         ignore_index=True)
    write_log(tmp / "log", NAME, all_rows.iloc[:300], 30, seed=1)
    cfg = monitor_config(tmp)
    assert DriftMonitor(cfg, [URI], tmp / "log").run(once=True)
    assert _alerts(tmp) == []
    state = json.loads((tmp / "state" / f"{NAME}.state.json").read_text())
    assert state["window_index"] == 1 and state["cursor"]["row"] == 20  # 200 rows = 6 files + 20 rows of the 7th
    # More rows arrive later; a new process picks up from the saved position.
    write_log(tmp / "log", NAME, all_rows.iloc[300:], 30, seed=2, start=pd.Timestamp("2026-01-06", tz="UTC"))
    second = DriftMonitor(cfg, [URI], tmp / "log")
    assert second.run(once=True)
    assert [a["window_index"] for a in _alerts(tmp)] == [1, 2]
    assert DriftMonitor(cfg, [URI], tmp / "log").run(once=True) and len(_alerts(tmp)) == 2


def test_a_new_champion_switches_the_reference(registry):
    client, tmp = registry
    v1 = register_model(client, tmp / "m1", NAME, normal_frame(1000, 1))
    _log(tmp, shifted=set(), n_windows=2)
    cfg = monitor_config(tmp)
    monitor = DriftMonitor(cfg, [URI], tmp / "log")
    assert monitor.run(once=True) and _alerts(tmp) == []
    # v2 was trained on data like the shifted windows: the same shifted rows are in-distribution for it.
    v2 = register_model(client, tmp / "m2", NAME, normal_frame(1000, 2, shift=2.0))
    write_log(tmp / "log", NAME, pd.concat([normal_frame(200, 7, shift=2.0)] * 2, ignore_index=True), 50, seed=3,
              start=pd.Timestamp("2026-01-06", tz="UTC"))
    assert monitor.run(once=True)
    assert _alerts(tmp) == []
    assert client.get_model_version(NAME, v2).tags["drift_status"] == "ok"
    assert [s for s, _ in _metric_history(client, v2, "drift_share")] == [2, 3]
    assert [s for s, _ in _metric_history(client, v1, "drift_share")] == [0, 1]
    # The stage URI resolves the same way (promotion mirrors aliases to stages).
    client.transition_model_version_stage(NAME, v1, "Production")
    stage = DriftMonitor(monitor_config(tmp, state_dir=str(tmp / "state2"), jsonl=str(tmp / "a2.jsonl")),
                         [f"models:/{NAME}/Production"], tmp / "log")
    assert stage.run(once=True)
    assert [a["model_version"] for a in _alerts(tmp, "a2.jsonl")] == [v1, v1]


class _Flaky:
    """An MlflowClient whose methods named in ``failing`` raise like a tracking server that is down."""

    def __init__(self, client) -> None:
        self._client, self.failing = client, set()

    def __getattr__(self, name):
        attr = getattr(self._client, name)

        def call(*args, **kwargs):
            if name in self.failing:
                from mlflow.exceptions import MlflowException

                raise MlflowException(f"API request to {name} failed: Connection refused")
            return attr(*args, **kwargs)

        return call if callable(attr) else attr


def test_unreachable_tracking_keeps_the_place_and_retries(registry):
    client, tmp = registry
    register_model(client, tmp / "m1", NAME, normal_frame(1000, 1))
    _log(tmp, shifted={0, 2}, n_windows=3)
    flaky = _Flaky(client)
    monitor = DriftMonitor(monitor_config(tmp), [URI], tmp / "log", client=flaky)
    flaky.failing = {"get_registered_model", "search_registered_models", "search_model_versions",
                     "get_model_version_by_alias"}
    assert not monitor.cycle()  # the registry cannot be reached
    status = monitor.status.snapshot()["models"][0]
    assert status["errors"] == 1 and "cannot reach the model registry" in status["last_error"]
    flaky.failing = {"log_batch"}
    assert not monitor.cycle()  # resolved, but the metrics of window 0 cannot be logged
    assert not (tmp / "state" / f"{NAME}.state.json").exists() and _alerts(tmp) == []
    assert "Connection refused" in monitor.status.snapshot()["models"][0]["last_error"]
    flaky.failing = set()
    assert monitor.run(max_cycles=2)
    assert [a["window_index"] for a in _alerts(tmp)] == [0, 2]


def test_a_failing_webhook_never_stops_the_daemon(registry):
    client, tmp = registry
    register_model(client, tmp / "m1", NAME, normal_frame(1000, 1))
    _log(tmp, shifted={0, 1}, n_windows=2)
    with Receiver(codes=[500] * 10_000) as rx:
        monitor = DriftMonitor(monitor_config(tmp, webhook={"url": rx.url, "drain_timeout_s": 0.5}), [URI],
                               tmp / "log")
        assert monitor.run(once=True)
    assert len(_alerts(tmp)) == 2 and rx.bodies == [] and monitor.undelivered == 2
    assert monitor.status.snapshot()["webhook_failures"] >= 4
    dead = DriftMonitor(monitor_config(tmp, webhook={"url": f"http://127.0.0.1:{free_port()}/x"}), [URI], tmp / "log")
    assert dead.run(max_cycles=2)
    snap = dead.status.snapshot()
    assert snap["webhook_pending"] == 2 and snap["cycles"] == 2


def test_time_windows_with_too_few_rows_are_skipped(registry):
    client, tmp = registry
    register_model(client, tmp / "m1", NAME, normal_frame(1000, 1))
    # 80 rows in the first hour, 20 in the second, one two hours later (its hour is long over by the clock).
    frame = normal_frame(101, 5, shift=2.0)
    write_log(tmp / "log", NAME, frame.iloc[:80], 1, step=pd.Timedelta(seconds=40), seed=4)
    write_log(tmp / "log", NAME, frame.iloc[80:100], 1, start=pd.Timestamp("2026-01-05 01:00", tz="UTC"), seed=5)
    write_log(tmp / "log", NAME, frame.iloc[100:], 1, start=pd.Timestamp("2026-01-05 03:00", tz="UTC"), seed=6)
    cfg = monitor_config(tmp, window={"rows": None, "time": "1h", "min_rows": 50})
    monitor = DriftMonitor(cfg, [URI], tmp / "log")
    assert monitor.run(once=True)
    snap = monitor.status.snapshot()["models"][0]
    assert snap["windows"] == 1 and snap["skipped_windows"] == 2 and snap["pending_rows"] == 0
    [alert] = _alerts(tmp)
    assert alert["window_start"] == "2026-01-05T00:00:00+00:00" and alert["window_end"] == "2026-01-05T01:00:00+00:00"
    assert alert["n_rows"] == 80


def test_a_hanging_webhook_does_not_slow_the_windows_and_gets_its_alerts_once_it_recovers(registry):
    import time

    client, tmp = registry
    register_model(client, tmp / "m1", NAME, normal_frame(1000, 1))
    _log(tmp, shifted={1, 2, 4, 5}, n_windows=6)
    plain = DriftMonitor(monitor_config(tmp / "plain"), [URI], tmp / "log")
    t0 = time.monotonic()
    assert plain.cycle()
    base = time.monotonic() - t0
    # Each POST waits for its 2 s timeout: delivered inline, 4 alerts x 2 tries would add 16 s to the cycle.
    with Receiver(hang_s=5) as rx:
        monitor = DriftMonitor(monitor_config(tmp / "hang", webhook={"url": rx.url, "timeout_s": 2}), [URI],
                               tmp / "log")
        monitor.webhook.start()
        try:
            t0 = time.monotonic()
            assert monitor.cycle()
            elapsed = time.monotonic() - t0
            assert monitor.status.snapshot()["models"][0]["windows"] == 6
            assert elapsed < 2 * base + 2.0, (elapsed, base)
            assert rx.bodies == [] and monitor.webhook.pending == 4
            rx.hang_s = 0  # the receiver recovers
            assert monitor.webhook.drain(20) == 0
        finally:
            monitor.webhook.stop()
    alerts = _alerts(tmp / "hang")
    assert [a["window_index"] for a in alerts] == [1, 2, 4, 5] and rx.hung >= 1
    assert sorted(b["alert_id"] for b in rx.bodies) == sorted(a["alert_id"] for a in alerts)  # each once
    print(f"6 windows: {base:.2f} s without a webhook, {elapsed:.2f} s with one that hangs")
