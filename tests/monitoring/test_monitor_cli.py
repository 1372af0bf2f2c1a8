"""`factory monitor`: one-shot run from the command line, and user errors as one line with exit code 2."""

from __future__ import annotations

import json

import pandas as pd
from monitoring_helpers import free_port, normal_frame, register_model, write_log

from factory.cli import main

NAME = "mes-cli"


def test_monitor_once_writes_alerts_and_reports(registry, capsys):
    client, tmp = registry
    register_model(client, tmp / "m1", NAME, normal_frame(1000, 1))
    frames = [normal_frame(200, i, shift=2.0 if i == 1 else 0.0) for i in range(2)]
    write_log(tmp / "log", NAME, pd.concat(frames, ignore_index=True), 40)
    code = main(["monitor", "--model-uri", f"models:/{NAME}@champion", "--log-dir", str(tmp / "log"), "--once",
                 "--window-rows", "200", "--settle", "0", "--jsonl", "out/alerts.jsonl", "--state-dir", "out/state",
                 "--report-dir", "out/reports", "--status-port", str(free_port()), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 window(s), 1 new alert(s)" in out and "status: http://127.0.0.1:" in out
    [alert] = [json.loads(x) for x in (tmp / "out" / "alerts.jsonl").read_text().splitlines()]
    assert alert["window_index"] == 1
    assert len(list((tmp / "out" / "reports" / NAME).glob("*.html"))) == 2  # reports: all windows by default


def test_unknown_model_is_one_line_and_exit_2(registry, capsys):
    client, tmp = registry
    code = main(["monitor", "--model-uri", "models:/nope@champion", "--log-dir", str(tmp), "--once", "--quiet",
                 "--state-dir", "s", "--jsonl", "a.jsonl"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "nope" in err and "Traceback" not in err


def test_bad_settings_are_exit_2(registry, capsys):
    _, tmp = registry
    code = main(["monitor", "--model-uri", "models:/x@champion", "--log-dir", str(tmp), "--window-time", "soon"])
    assert code == 2 and "not a duration" in capsys.readouterr().err


def test_a_run_uri_is_refused_up_front(registry, capsys):
    _, tmp = registry
    code = main(["monitor", "--model-uri", "runs:/abc/model", "--log-dir", str(tmp), "--once"])
    assert code == 2 and "not a registry URI" in capsys.readouterr().err


def test_once_with_undelivered_alerts_exits_3_and_the_next_run_delivers_them(registry, capsys):
    from monitoring_helpers import Receiver

    client, tmp = registry
    register_model(client, tmp / "m1", NAME, normal_frame(1000, 1))
    frames = [normal_frame(200, i, shift=2.0 if i == 1 else 0.0) for i in range(2)]
    write_log(tmp / "log", NAME, pd.concat(frames, ignore_index=True), 40)
    (tmp / "m.yaml").write_text("monitoring:\n  webhook: {drain_timeout_s: 0.5, backoff_s: 0.01, "
                                "max_backoff_s: 0.05, timeout_s: 1}\n")

    def run(url):
        return main(["monitor", "--model-uri", f"models:/{NAME}@champion", "--log-dir", str(tmp / "log"), "--once",
                     "--window-rows", "200", "--settle", "0", "--jsonl", "out/alerts.jsonl", "--state-dir",
                     "out/state", "--report-dir", "out/reports", "--config", str(tmp / "m.yaml"), "--webhook", url,
                     "--quiet"])

    assert run(f"http://127.0.0.1:{free_port()}/hook") == 3
    err = capsys.readouterr().err
    assert "1 alert(s) not delivered to the webhook" in err and "webhook-queue" in err
    assert len(list((tmp / "out" / "state" / "webhook-queue").glob("*.json"))) == 1
    with Receiver() as rx:
        assert run(rx.url) == 0
    [alert] = [json.loads(x) for x in (tmp / "out" / "alerts.jsonl").read_text().splitlines()]
    assert [b["alert_id"] for b in rx.bodies] == [alert["alert_id"]]
    assert not list((tmp / "out" / "state" / "webhook-queue").iterdir())
