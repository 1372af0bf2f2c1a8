"""`factory pipeline` and `mlflow run . -e pipeline` log the dataset to a real MLflow store."""

import json
import os
import subprocess
from pathlib import Path

import mlflow
import pytest

from factory.cli import main
from factory.data.synth import synth_to_file

ROOT = Path(__file__).resolve().parents[2]
SMALL = """\
regimes: {n_iter: 10}
labels:
  tuning: {n_trials: 4}
"""


@pytest.fixture
def small_inputs(tmp_path):
    data = tmp_path / "bars.parquet"
    synth_to_file(data, n_bars=20_000, seed=5)  # the default embargo (2,000 bars) needs 15,600 bars at least
    cfg = tmp_path / "small.yaml"
    cfg.write_text(SMALL)
    return data, cfg


def test_factory_pipeline_logs_params_metrics_and_artifacts(tracking_uri, small_inputs, capsys):
    data, cfg = small_inputs
    assert main(["pipeline", "--data", str(data), "--config", str(cfg), "--quiet"]) == 0
    out = capsys.readouterr().out
    run_id = out.split("run_id:")[1].split()[0]
    run = mlflow.MlflowClient().get_run(run_id)
    assert mlflow.MlflowClient().get_experiment(run.info.experiment_id).name == "mes-pipeline"
    [data_input] = run.inputs.dataset_inputs
    assert data_input.dataset.digest == run.data.params["data.sha256"][:16]
    assert json.loads(data_input.dataset.source)["uri"] == str(data)
    p, m = run.data.params, run.data.metrics
    assert not [k for k, v in p.items() if v in ("", "None")]  # unset settings are not logged
    assert p["labels.tuning.n_trials"] == "4" and p["split.embargo_bars"] == "2000"
    assert p["data.source"] == str(data) and len(p["data.sha256"]) == 64
    assert m["n_bars"] == 20_000 and m["n_features"] >= 150
    assert m["n_train"] > m["n_val"] > 0 and m["n_test"] > 0
    for part in ("train", "val", "test"):
        fracs = [m[f"label_{c}_frac_{part}"] for c in ("down", "flat", "up")]
        assert sum(fracs) == pytest.approx(1.0)
    assert sum(v for k, v in m.items() if k.startswith("regime_occupancy_")) == pytest.approx(1.0)
    assert 0.5 <= m["barrier_k_up"] <= 4.0 and 5 <= m["barrier_horizon"] <= 60
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "dataset")}
    assert {"dataset/data_profile.html", "dataset/data_profile.json", "dataset/label_balance.png",
            "dataset/regime_plot.png", "dataset/resolved_config.yaml", "dataset/barriers.json"} <= names
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="dataset/data_profile.json")
    profile = json.loads(Path(local).read_text())
    assert profile["n_bars"] == 20_000 and profile["median_interval_seconds"] == 60.0
    # the synthetic data only has exchange halts and weekends: no gap warnings against the CME calendar
    assert not [w for w in profile["warnings"] if "[gap]" in w]


def test_bad_config_key_is_one_line_exit_2(tracking_uri, small_inputs, tmp_path, capsys):
    data, _ = small_inputs
    bad = tmp_path / "bad.yaml"
    bad.write_text("labels: {k_upp: 2}\n")
    assert main(["pipeline", "--data", str(data), "--config", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: bad.yaml.labels.k_upp: unknown key"


def test_mlflow_run_pipeline_entry_point(tmp_path, small_inputs):
    data, cfg = small_inputs
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    res = subprocess.run(
        # lower-case contract: the entry point must not clash with the parameter mlflow run logged itself
        ["mlflow", "run", str(ROOT), "-e", "pipeline", "-P", f"data={data}", "-P", f"config={cfg}", "-P", "contract=mes",
         "--env-manager", "local", "--experiment-name", "pipeline-test"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "succeeded" in res.stderr
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    try:
        runs = mlflow.search_runs(experiment_names=["pipeline-test"], output_format="list")
        assert len(runs) == 1 and runs[0].info.status == "FINISHED"
        assert runs[0].data.metrics["n_bars"] == 20_000
        assert runs[0].data.tags["factory.entry_point"] == "pipeline"
    finally:
        mlflow.set_tracking_uri(None)


def test_too_few_bars_for_the_warmup_is_one_line_exit_2(tracking_uri, tmp_path, capsys):
    data = tmp_path / "tiny.csv"
    synth_to_file(data, n_bars=500, seed=1)
    assert main(["pipeline", "--data", str(data), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: [min_bars]") and "500 bars but at least" in err[-1]
    assert not mlflow.search_runs(search_all_experiments=True, output_format="list")
