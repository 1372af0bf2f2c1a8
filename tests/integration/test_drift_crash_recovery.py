"""The drift daemon killed with SIGKILL and restarted neither loses nor repeats an alert.

A log of 8 windows (5 drifting) is processed once without interruption, in-process: that is the expected set of
alerts. Then a fresh daemon (subprocess, own JSONL and state) is killed for real at a different point of its cycle
on each run, via ``FACTORY_MONITOR_CRASH_AT``, and restarted, until a run completes: its JSONL must hold exactly
the expected alerts, each once, and the webhook must have received every one of them. The slow variant kills at
random moments instead.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "monitoring"))
from monitoring_helpers import (  # noqa: E402
    Receiver, free_port, monitor_config, normal_frame, register_model, write_log)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NAME = "mes-crash"
URI = f"models:/{NAME}@champion"
DRIFTING = {1, 2, 4, 6, 7}
# Compared between runs: everything but the creation time and the report's folder.
FIELDS = ("alert_id", "model_version", "window_index", "window_start", "window_end", "n_rows", "drift_share",
          "drifted_columns", "threshold")


@pytest.fixture
def setup(tracking, tmp_path):
    import mlflow

    client = mlflow.MlflowClient(tracking)
    register_model(client, tmp_path / "m1", NAME, normal_frame(1000, 1))
    frames = [normal_frame(200, i, shift=2.0 if i in DRIFTING else 0.0) for i in range(8)]
    write_log(tmp_path / "log", NAME, pd.concat(frames, ignore_index=True), [1, 37, 90])
    from monitoring.daemon import DriftMonitor

    assert DriftMonitor(monitor_config(tmp_path / "expected"), [URI], tmp_path / "log").run(once=True)
    return tmp_path, _read(tmp_path / "expected" / "alerts.jsonl")


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _command(tmp: Path, webhook: str) -> list[str]:
    out = tmp / "crashed"
    return [sys.executable, "-m", "factory.cli", "monitor", "--model-uri", URI, "--log-dir", str(tmp / "log"),
            "--once", "--window-rows", "200", "--settle", "0", "--jsonl", str(out / "alerts.jsonl"),
            "--state-dir", str(out / "state"), "--report-dir", str(out / "reports"), "--reports", "drift",
            "--webhook", webhook, "--quiet"]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_MONITOR_")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def _compare(tmp: Path, expected: list[dict], received: list[dict]) -> None:
    got = _read(tmp / "crashed" / "alerts.jsonl")
    assert len({a["alert_id"] for a in got}) == len(got), "an alert was repeated"
    key = lambda a: a["window_index"]  # noqa: E731
    assert [{k: a[k] for k in FIELDS} for a in sorted(got, key=key)] == \
           [{k: a[k] for k in FIELDS} for a in sorted(expected, key=key)]
    assert [a["window_index"] for a in sorted(expected, key=key)] == sorted(DRIFTING)
    assert {b["alert_id"] for b in received} == {a["alert_id"] for a in expected}  # at least once
    state = json.loads((tmp / "crashed" / "state" / f"{NAME}.state.json").read_text())
    assert state["window_index"] == 8


def _position(state: Path) -> int:
    try:
        return json.loads(state.read_text())["window_index"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


# Each run dies at the n-th time it reaches the point; together they cover every step of a window and of the
# webhook worker (an alert killed after its POST and before its record is the one that may be posted twice).
CHAIN = [("alert_written", 1), ("metrics_logged", 2), ("state_saved", 1), ("report_saved", 2), ("tagged", 1),
         ("webhook_queued", 1), ("webhook_delivered", 1), ("webhook_acked", 1)]


def test_sigkill_at_each_point_of_the_cycle_then_restart(setup):
    tmp, expected = setup
    with Receiver() as rx:
        for point, nth in CHAIN:
            proc = subprocess.run(_command(tmp, rx.url), env=_env(FACTORY_MONITOR_CRASH_AT=f"{point}:{nth}"),
                                  cwd=tmp, capture_output=True, text=True, timeout=300)
            assert proc.returncode == -signal.SIGKILL, f"{point}:{nth} was not reached:\n{proc.stderr[-2000:]}"
        final = subprocess.run(_command(tmp, rx.url), env=_env(), cwd=tmp, capture_output=True, text=True,
                               timeout=300)
        assert final.returncode == 0, final.stderr[-2000:]
        received = list(rx.bodies)
    _compare(tmp, expected, received)
    # Exactly once on the receiver but for the single alert killed between its POST and its record.
    counts = sorted(Counter(b["alert_id"] for b in received).values())
    assert counts in ([1] * len(expected), [1] * (len(expected) - 1) + [2]), counts
    assert not list((tmp / "crashed" / "state" / "webhook-queue").iterdir())


def test_sigkill_while_an_alert_waits_for_a_dead_webhook_then_restart_delivers_it(setup):
    tmp, expected = setup
    queue = tmp / "crashed" / "state" / "webhook-queue"
    dead = f"http://127.0.0.1:{free_port()}/hook"
    proc = subprocess.Popen(_command(tmp, dead), env=_env(), cwd=tmp, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        # Killed once every alert is queued and at least one has failed a delivery round.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            files = [json.loads(p.read_text()) for p in queue.glob("*.json")] if queue.is_dir() else []
            if len(files) == len(expected) and any(f["attempts"] >= 1 for f in files):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the daemon ended before its alerts were queued and retried"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert max(json.loads(p.read_text())["attempts"] for p in queue.glob("*.json")) >= 1
    with Receiver() as rx:
        final = subprocess.run(_command(tmp, rx.url), env=_env(), cwd=tmp, capture_output=True, text=True,
                               timeout=300)
        assert final.returncode == 0, final.stderr[-2000:]
        received = list(rx.bodies)
    _compare(tmp, expected, received)
    assert len(received) == len(expected) and not list(queue.iterdir())


@pytest.mark.slow
def test_sigkill_at_random_moments_then_restart(setup):
    tmp, expected = setup
    rng = random.Random(7)
    state = tmp / "crashed" / "state" / f"{NAME}.state.json"
    positions, killed = [], 0
    with Receiver() as rx:
        for _ in range(8):
            before = _position(state)
            # Every cycle step sleeps a little, so a kill lands inside a window more often than not.
            proc = subprocess.Popen(_command(tmp, rx.url), env=_env(FACTORY_MONITOR_PAUSE_S="0.05"), cwd=tmp,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Start-up time depends on the machine's load: the random moment is counted from the first window
            # this run completes, so the kill lands in real work, not in the imports.
            deadline = time.monotonic() + 180
            while proc.poll() is None and _position(state) == before and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 1.5))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                killed += 1
            proc.wait(timeout=60)
            positions.append(_position(state))
        # The kills interrupted real work, not only start-ups.
        assert killed >= 3 and len(set(positions)) >= 2, positions
        final = subprocess.run(_command(tmp, rx.url), env=_env(), cwd=tmp, capture_output=True, text=True,
                               timeout=300)
        assert final.returncode == 0, final.stderr[-2000:]
        received = list(rx.bodies)
    _compare(tmp, expected, received)
