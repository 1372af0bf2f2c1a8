"""A failed `mlflow run` says why on its run: an ``error`` tag (the CLI's one-line message) and ``error.txt``.

`mlflow run` creates the run before the entry point starts (``MLFLOW_RUN_ID``), so validation cannot fail
"before any run exists" there; the CLI's error handling writes the reason on that run instead. Plain
``factory train`` still fails before any run is created (tests/integration/test_train_mlflow_run.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def _failed_run(folder: Path, **params):
    import mlflow

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    cmd = [sys.executable, "-m", "mlflow", "run", str(REPO), "-e", "train", "--env-manager", "local"]
    for k, v in params.items():
        cmd += ["-P", f"{k}={v}"]
    res = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1, [r.info.run_id for r in runs]
    run = runs[0]
    text = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="error.txt",
                                                    tracking_uri=uri)).read_text()
    return res, run, text


def test_unknown_model_key_is_recorded_on_the_mlflow_run(tmp_path):
    res, run, text = _failed_run(tmp_path, model="nope")
    # The entry point exits 2 after printing one line; `mlflow run` then reports the run as failed (exit 1).
    assert res.returncode == 1
    assert "error: unknown model 'nope'; known models: " in res.stderr and "Traceback" not in res.stderr
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].startswith("unknown model 'nope'; known models: autoformer, chronos_bolt")
    assert "\n" not in run.data.tags["error"]
    assert text.strip() == run.data.tags["error"]


def test_bad_data_file_is_recorded_on_the_mlflow_run(tmp_path):
    import pandas as pd

    from factory.data.synth import synth_to_file

    path = synth_to_file(tmp_path / "bars.csv", n_bars=300, seed=1)
    bars = pd.read_csv(path)
    bars.loc[[5, 6], ["timestamp"]] = bars.loc[[6, 5], ["timestamp"]].to_numpy()  # two rows out of order
    bars.to_csv(path, index=False)
    res, run, text = _failed_run(tmp_path, model="lightgbm", data=path)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    printed = next(line for line in res.stderr.splitlines() if line.startswith("error: "))
    assert "[sorted] column 'timestamp'" in printed
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == printed.removeprefix("error: ")
    assert "[sorted] column 'timestamp'" in text


def test_the_cli_records_on_the_run_named_by_mlflow_run_id(tmp_path, monkeypatch):
    """The same path in-process: ``MLFLOW_RUN_ID`` set (as `mlflow run` sets it), a user error returns 2."""
    import mlflow

    from factory.cli import main

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = mlflow.MlflowClient(uri)
    run = client.create_run(client.create_experiment("failures"))
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    assert main(["train", "--model", "nope"]) == 2
    tags = client.get_run(run.info.run_id).data.tags
    assert tags["error"].startswith("unknown model 'nope'")
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["error.txt"]
