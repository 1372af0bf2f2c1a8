"""The evaluate job in a real MLflow store: parent and nested child runs, leaderboard artifacts, PBO/DSR tags on
the registered version trained on the same data (and on no other); the executor and command-line surface."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SMALL_CONFIG = Path(__file__).resolve().parents[1] / "packaging" / "small_train.yaml"
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _register_versions(name: str, shas: list[str]) -> list[str]:
    """Versions of ``name`` tagged with the given data hashes (their source: an empty run artifact folder)."""
    import mlflow

    c = mlflow.MlflowClient()
    c.create_registered_model(name)
    with mlflow.start_run(run_name="fake-train") as run:
        mlflow.log_text("placeholder", "model/README.txt")
    out = []
    for sha in shas:
        mv = c.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id,
                                    tags={"data_sha256": sha}, description="trained")
        out.append(str(mv.version))
    return out


def test_evaluate_job_logs_runs_artifacts_and_tags(tracking, tmp_path):
    import mlflow
    import yaml

    from factory.data.io import write_bars
    from factory.data.loading import load_bars
    from factory.data.synth import generate_bars, plant_edge
    from factory.jobs.evaluate import run_evaluate
    from factory.train_config import load_train_config

    data = tmp_path / "bars.parquet"
    write_bars(plant_edge(generate_bars(6000, seed=3), every=120, horizon=10)[0], data)
    cfg = yaml.safe_load(SMALL_CONFIG.read_text())
    cfg["models"]["xgboost"]["n_estimators"] = 0  # does not validate: an error row, the others go on
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    sha = load_bars(str(data), load_train_config("logistic", str(config)).pipeline).sha256
    v_old, v_new, v_other = _register_versions("mes-logistic", [sha, sha, "0" * 64])

    result = run_evaluate("logistic,lightgbm,xgboost", data=str(data), config_file=str(config), n_groups=4,
                          n_test_groups=2, workers=1, progress=False, echo=lambda *_: None)

    c = mlflow.MlflowClient()
    parent = c.get_run(result.run_id)
    assert parent.info.run_name == "evaluate-MES"
    # The contract's evaluate experiment (not "Default"), with the bars as the training dataset input.
    assert c.get_experiment(parent.info.experiment_id).name == "mes-evaluate"
    [data_input] = parent.inputs.dataset_inputs
    assert data_input.dataset.digest == sha[:16] and data_input.dataset.name == "mes-bars"
    assert {t.key: t.value for t in data_input.tags}["mlflow.data.context"] == "training"
    files = {f.path for f in c.list_artifacts(result.run_id)}
    assert {"leaderboard.csv", "leaderboard.md", "leaderboard.html", "plots"} <= files
    plots = {Path(f.path).name for f in c.list_artifacts(result.run_id, "plots")}
    assert {"equity_paths.png", "drawdown.png", "regime_sharpe_heatmap.png", "calibration_logistic.png",
            "confusion_lightgbm.png"} <= plots
    board = pd.read_csv(c.download_artifacts(result.run_id, "leaderboard.csv", str(tmp_path / "dl")))
    assert sorted(board["model"]) == ["lightgbm", "logistic", "xgboost"]
    assert 0 <= parent.data.metrics["pbo"] <= 1

    children = c.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert sorted(r.data.tags["factory.model"] for r in children) == ["lightgbm", "logistic", "xgboost"]
    by_key = {r.data.tags["factory.model"]: r for r in children}
    assert by_key["xgboost"].info.status == "FAILED" and "n_estimators" in by_key["xgboost"].data.tags["error"]
    logistic = by_key["logistic"]
    assert logistic.info.status == "FINISHED"
    row = board.set_index("model").loc["logistic"]
    assert logistic.data.metrics["net_sharpe_mean"] == pytest.approx(row["net_sharpe_mean"])
    assert len(c.get_metric_history(logistic.info.run_id, "path_net_sharpe")) == 3
    assert {"regimes.csv", "paths.csv", "plots"} <= {f.path for f in c.list_artifacts(logistic.info.run_id)}
    regimes = pd.read_csv(c.download_artifacts(logistic.info.run_id, "regimes.csv", str(tmp_path)))
    hmm = regimes[regimes["kind"] == "hmm"]
    # Per regime, path means: the HMM states (defined on every test bar) hold every path's trades.
    assert hmm["n_trades"].sum() == pytest.approx(row["n_trades"])
    assert ((regimes["win_rate"] >= 0) & (regimes["win_rate"] <= 1) | regimes["win_rate"].isna()).all()

    assert result.tagged_versions == {"logistic": v_new}  # lightgbm has no registered model: skipped
    tagged = c.get_model_version("mes-logistic", v_new)
    assert float(tagged.tags["pbo"]) == pytest.approx(row["pbo"])
    assert float(tagged.tags["dsr"]) == pytest.approx(row["dsr"])
    assert tagged.tags["pbo_run_id"] == result.run_id and tagged.tags["pbo_n_models"] == "2"
    assert tagged.description.startswith("trained") and result.run_id in tagged.description
    for v in (v_old, v_other):  # an older version on the same data, and one on other data: untouched
        assert "pbo" not in c.get_model_version("mes-logistic", v).tags


def test_process_executor_reports_each_item_and_its_exception():
    from factory.evaluation.executor import ProcessExecutor, SerialExecutor

    for ex in (SerialExecutor(), ProcessExecutor(2)):
        out = dict(ex.map(int, ["7", "x"]))
        assert out["7"] == 7 and isinstance(out["x"], ValueError)


def test_expected_calibration_error():
    from factory.evaluation.metrics import expected_calibration_error

    y = np.array([1, 1, -1, 0])
    sure = np.array([[0, 0, 1], [0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=float)
    assert expected_calibration_error(y, sure) == 0.0
    # confidence 0.6 everywhere, right half the time: |0.5 - 0.6| = 0.1
    p = np.tile([0.2, 0.2, 0.6], (4, 1))
    assert expected_calibration_error(np.array([1, 1, 0, -1]), p) == pytest.approx(0.1)


def test_cli_models_and_model_uri_are_exclusive_and_unknown_keys_are_named(capsys):
    from entrypoints.evaluate import argv_for_cli
    from factory.cli import main

    with pytest.raises(SystemExit):
        main(["evaluate", "--models", "logistic", "--model-uri", "models:/mes-logistic/1"])
    assert main(["evaluate", "--models", "logistic,nope", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "lightgbm" in err
    assert argv_for_cli(["--models", "all", "--data", "", "--model-uri", "models:/m/1"]) == ["--model-uri",
                                                                                             "models:/m/1"]
    assert argv_for_cli(["--models", "all", "--model-uri", ""]) == ["--models", "all"]


def test_ensemble_note_compares_with_the_best_evaluated_member():
    from factory.evaluation.leaderboard_stats import ensemble_notes

    table = pd.DataFrame({"model": ["voting", "lightgbm", "logistic", "stacking"],
                          "net_sharpe_mean": [1.5, 2.0, 0.5, 0.1]})
    notes = ensemble_notes(table, {"voting": ["xgboost", "lightgbm", "logistic"], "lightgbm": [],
                                   "logistic": [], "stacking": ["tcn"]})
    assert notes["voting"].startswith("does not beat its best member lightgbm") and "-0.50" in notes["voting"]
    assert "not evaluated" in notes["stacking"] and "lightgbm" not in notes
