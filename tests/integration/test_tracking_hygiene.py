"""What a plain `factory train` leaves in the MLflow UI: a named experiment, the data as a dataset input, no
empty params, and a short set of rounded tags on the registered version (the full set stays in the run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMALL_CONFIG = REPO / "tests" / "packaging" / "small_train.yaml"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import mlflow

    from factory.data.loading import load_bars
    from factory.data.synth import synth_to_file
    from factory.jobs.train import run_train
    from factory.train_config import load_train_config

    folder = tmp_path_factory.mktemp("hygiene")
    data = synth_to_file(folder / "bars.parquet", n_bars=12_000, seed=5)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    for var in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
        mp.delenv(var, raising=False)
    mp.chdir(folder)
    mlflow.set_tracking_uri(uri)
    try:
        result = run_train("lightgbm", data=str(data), config_file=str(SMALL_CONFIG), progress=False,
                           echo=lambda *_: None)
        sha = load_bars(str(data), load_train_config("lightgbm", str(SMALL_CONFIG)).pipeline).sha256
        client = mlflow.MlflowClient(uri)
        yield result, client, sha
    finally:
        mlflow.set_tracking_uri(None)
        mp.undo()


def test_train_run_lands_in_the_contract_job_experiment(trained):
    result, client, _ = trained
    run = client.get_run(result.run_id)
    assert client.get_experiment(run.info.experiment_id).name == "mes-train"


def test_train_run_logs_the_bars_as_a_training_dataset_with_our_digest(trained):
    result, client, sha = trained
    inputs = client.get_run(result.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    ds = inputs[0].dataset
    assert ds.name == "mes-bars" and ds.digest == sha[:16]
    assert ds.source_type == "local" and json.loads(ds.source)["uri"].endswith("hygiene0/bars.parquet")
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"
    assert '"num_rows": 12000' in ds.profile


def test_no_param_is_logged_empty(trained):
    result, client, _ = trained
    params = client.get_run(result.run_id).data.params
    assert params["model.key"] == "lightgbm" and len(params) > 50
    assert [k for k, v in params.items() if v in ("", "None")] == []


def test_use_experiment_respects_a_choice_already_made(tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import fluent

    from factory.tracking import experiment_name, use_experiment

    assert experiment_name("MGC", "evaluate") == "mgc-evaluate"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    # mlflow.set_experiment below is process-wide state (and it exports MLFLOW_EXPERIMENT_ID): set first with
    # monkeypatch so that both are restored after the test.
    for var in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    try:
        pipeline_id = use_experiment("MES", "pipeline")
        assert client.get_experiment(pipeline_id).name == "mes-pipeline"
        assert use_experiment("MES", "pipeline") == pipeline_id  # found, not created twice
        assert client.get_experiment(use_experiment("MES", "evaluate")).name == "mes-evaluate"
        monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "mine")
        assert use_experiment("MES", "train") is None
        monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME")
        monkeypatch.setenv("MLFLOW_RUN_ID", "0123")  # `mlflow run` chose the run, and so its experiment
        assert use_experiment("MES", "train") is None
        monkeypatch.delenv("MLFLOW_RUN_ID")
        client.delete_experiment(pipeline_id)
        with pytest.raises(Exception, match="experiment 'mes-pipeline' is deleted: restore it"):
            use_experiment("MES", "pipeline")
        mlflow.set_experiment("chosen-by-caller")
        assert use_experiment("MES", "train") is None
        with mlflow.start_run() as run:
            assert use_experiment("MES", "train") is None
        assert client.get_experiment(run.info.experiment_id).name == "chosen-by-caller"
        assert client.get_experiment_by_name("mes-train") is None
    finally:
        mlflow.set_tracking_uri(None)


def test_version_keeps_a_short_rounded_set_of_tags_and_the_run_all_numbers(trained):
    result, client, sha = trained
    tags = client.get_model_version(result.name, result.version).tags
    run = client.get_run(result.run_id)
    numbers = {k for k in tags if k.startswith(("val_", "test_")) and k not in (
        "test_start", "test_end", "test_start_row", "test_end_row")}
    # The description's rows for both parts, plus the per-bar Sharpe and its bar count.
    assert numbers == {f"{p}_{s}" for p in ("val", "test") for s in (
        "net_sharpe", "win_rate", "max_drawdown_usd", "net_pnl_usd", "n_trades", "psr", "log_loss", "accuracy",
        "f1_macro", "brier", "sharpe_per_bar", "n_bars")} & set(tags)
    for gate in ("test_net_sharpe", "test_n_trades", "test_win_rate", "test_max_drawdown_usd",
                 "test_sharpe_per_bar", "test_n_bars"):
        assert gate in tags, gate
    assert len(tags) <= 35 and "test_ece" not in tags and "test_ece" in run.data.metrics
    for k in numbers:
        full = run.data.metrics.get(k)
        if full is None:  # NaN (a constant P&L has no Sharpe): not a run metric
            assert tags[k] == "nan", k
        elif float(full).is_integer():
            assert tags[k] == str(int(full)), k  # counts stay exact
        else:
            assert tags[k] == repr(float(f"{full:.4g}")), k
    assert tags["data_sha256"] == sha and tags["run_id"] == result.run_id
    assert int(tags["test_end_row"]) - int(tags["test_start_row"]) == int(tags["test_n_bars"])


def test_rounded_tag_value():
    from factory.packaging.registry import rounded_tag_value

    assert rounded_tag_value(0.123456789) == "0.1235"
    assert rounded_tag_value(-12345.678) == "-12350.0"
    assert rounded_tag_value(12000.0) == "12000" and rounded_tag_value(57) == "57"
    assert rounded_tag_value(1.234567e-7) == "1.235e-07"
    assert rounded_tag_value(float("nan")) == "nan" and rounded_tag_value("abc") == "abc"


def test_a_failure_inside_a_factory_train_run_is_recorded_on_it(tmp_path, monkeypatch):
    """Once `factory train` has started its run, a failure (here: logging the model) leaves the reason on it."""
    import mlflow

    import factory.packaging.log_model as log_model
    from factory.data.synth import synth_to_file
    from factory.jobs.train import run_train

    data = synth_to_file(tmp_path / "bars.parquet", n_bars=12_000, seed=5)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for var in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(var, raising=False)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(log_model, "log_pyfunc", full_disk)
    mlflow.set_tracking_uri(uri)
    try:
        with pytest.raises(OSError, match="No space left on device"):
            run_train("lightgbm", data=str(data), config_file=str(SMALL_CONFIG), progress=False,
                      echo=lambda *_: None)
        client = mlflow.MlflowClient(uri)
        [run] = client.search_runs([client.get_experiment_by_name("mes-train").experiment_id])
        assert run.info.status == "FAILED"
        assert run.data.tags["error"] == "OSError: [Errno 28] No space left on device"
        text = Path(client.download_artifacts(run.info.run_id, "error.txt", str(tmp_path))).read_text()
        assert text.startswith("OSError: [Errno 28] No space left on device\n\nTraceback (most recent call last):")
        assert "full_disk" in text
    finally:
        mlflow.set_tracking_uri(None)
