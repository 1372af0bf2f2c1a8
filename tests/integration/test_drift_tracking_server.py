"""The drift daemon against a real tracking server (``mlflow server`` on SQLite), fed by a served model.

A LightGBM model is trained against the server and made champion; ``mlflow models serve`` with
``FACTORY_INFERENCE_LOG`` serves it and logs what it sees; the daemon compares that log with the reference sample
it downloads from the server: ordinary bars pass, bars with volatility x3 and a new volume regime raise an alert
(JSONL, the version's ``drift_status`` tag and the monitoring run's metrics, all on the server). Then the server is
stopped: the daemon reports it unreachable and keeps its place; restarted, the daemon carries on from there.

Slow (a tracking server, a training run and a scoring server); run with ``-m slow``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "monitoring"))
from monitoring_helpers import free_port, monitor_config  # noqa: E402
from test_drift_detection import shifted  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SMALL_CONFIG = REPO / "tests" / "packaging" / "small_train.yaml"
NAME = "mes-lightgbm"
URI = f"models:/{NAME}@champion"


def _start_tracking_server(folder: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
           "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    _stop(proc)
    pytest.fail("the tracking server did not start")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_daemon_and_served_model_against_a_tracking_server(tmp_path, monkeypatch):
    import mlflow

    from factory.data.synth import generate_bars
    from monitoring.daemon import DriftMonitor
    from serving.client import bars_payload
    from serving.local_server import LocalScoringServer

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = _start_tracking_server(tmp_path, port)
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        # An unreachable server should fail the cycle in seconds, not after MLflow's minutes of retries.
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mlflow.set_tracking_uri(uri)
        client = mlflow.MlflowClient(uri)

        config = yaml.safe_load(SMALL_CONFIG.read_text())
        config["training"]["reference_rows"] = 2000
        (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
        generate_bars(12_000, seed=11).to_parquet(tmp_path / "bars.parquet")
        train = subprocess.run([sys.executable, "-m", "factory.cli", "train", "--model", "lightgbm", "--quiet",
                                "--data", "bars.parquet", "--config", "train.yaml"], cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                               timeout=600)
        assert train.returncode == 0, train.stderr[-3000:]
        client.set_registered_model_alias(NAME, "champion", "1")

        log_dir = tmp_path / "inference-log"
        served = LocalScoringServer(URI, cwd=tmp_path, env={"FACTORY_INFERENCE_LOG": str(log_dir),
                                                            "MLFLOW_TRACKING_URI": uri})
        with served:
            # Each request logs one row per bar after the model's warm-up: 5000 rows, one window.
            warmup = int(mlflow.models.get_model_info(URI).metadata["warmup_bars"])
            for bars in (generate_bars(warmup + 5000, seed=300), shifted(generate_bars(warmup + 5000, seed=301))):
                status, body = served.post(bars_payload(bars, last_only=False))
                assert status == 200, body
            cfg = monitor_config(tmp_path / "mon", window={"rows": 5000}, reports="drift")
            monitor = DriftMonitor(cfg, [URI], log_dir, client=client)
            deadline = time.monotonic() + 60
            while monitor.status.model(URI).windows < 2 and time.monotonic() < deadline:
                assert monitor.cycle(), monitor.status.snapshot()  # the log's background writer may lag a little
                time.sleep(0.5)
            alerts = [json.loads(x) for x in (tmp_path / "mon" / "alerts.jsonl").read_text().splitlines()]
            assert [a["window_index"] for a in alerts] == [1] and alerts[0]["model_version"] == "1"
            assert client.get_model_version(NAME, "1").tags["drift_status"] == "drift"
            exp = client.get_experiment_by_name("factory-monitoring")
            [run] = client.search_runs([exp.experiment_id])
            assert [m.step for m in client.get_metric_history(run.info.run_id, "drift_share")] == [0, 1]
            assert client.list_artifacts(run.info.run_id, "reports")  # the drifting window's report
            status, _ = served.post(bars_payload(generate_bars(warmup + 5000, seed=302), last_only=False))
            assert status == 200

        # The tracking server goes away: the cycle fails, the position stays where it was.
        _stop(server)
        state_file = tmp_path / "mon" / "state" / f"{NAME}.state.json"
        before = state_file.read_text()
        assert not monitor.cycle()
        assert "cannot reach" in monitor.status.model(URI).last_error
        assert state_file.read_text() == before
        # Back on the same store: the daemon carries on from its saved position.
        server = _start_tracking_server(tmp_path, port)
        assert monitor.cycle()
        assert json.loads(state_file.read_text())["window_index"] == 3
        assert len((tmp_path / "mon" / "alerts.jsonl").read_text().splitlines()) == 1
        assert client.get_model_version(NAME, "1").tags["drift_status"] == "ok"
    finally:
        mlflow.set_tracking_uri(None)
        _stop(server)
