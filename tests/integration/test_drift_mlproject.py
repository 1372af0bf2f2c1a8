"""`mlflow run . -e drift` runs the daemon through the MLproject entry point (one-shot, local environment).

Slow (``mlflow run`` starts a fresh interpreter and logs a run of its own); run with ``-m slow``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "monitoring"))
from monitoring_helpers import normal_frame, register_model, write_log  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def test_mlflow_run_drift_entry_point(tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    register_model(client, tmp_path / "m1", "mes-ep", normal_frame(1000, 1))
    frames = [normal_frame(200, i, shift=2.0 if i == 0 else 0.0) for i in range(2)]
    write_log(tmp_path / "log", "mes-ep", pd.concat(frames, ignore_index=True), 50)
    config = tmp_path / "monitor.yaml"
    config.write_text("monitoring: {settle_s: 0, reports: none}\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mlflow", "run", str(REPO), "-e", "drift", "--env-manager", "local",
           "-P", "model_uri=models:/mes-ep@champion", "-P", f"log_dir={tmp_path / 'log'}", "-P", "window_rows=200",
           "-P", f"jsonl={out / 'alerts.jsonl'}", "-P", f"state_dir={out / 'state'}", "-P", f"config={config}",
           "-P", "once=true"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [alert] = [json.loads(x) for x in (out / "alerts.jsonl").read_text().splitlines()]
    assert alert["window_index"] == 0 and alert["model_uri"] == "models:/mes-ep@champion"
    assert "2 window(s), 1 new alert(s)" in proc.stdout
