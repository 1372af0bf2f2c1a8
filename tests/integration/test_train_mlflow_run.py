"""`mlflow run . -e train` end to end in a temporary folder with its own SQLite tracking store.

The fast suite trains lightgbm once (module fixture) and checks the run, the registered version, its tags and
description, that ``models:/mes-lightgbm/1`` loads and predicts, and `-e promote` on it. The other keys run
under ``-m slow``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMALL_CONFIG = REPO / "tests" / "packaging" / "small_train.yaml"
N_BARS = 12_000

pytestmark = pytest.mark.integration


def _env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    return env


def _mlflow_run(folder: Path, entry: str, **params) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mlflow", "run", str(REPO), "-e", entry, "--env-manager", "local"]
    for k, v in params.items():
        cmd += ["-P", f"{k}={v}"]
    return subprocess.run(cmd, cwd=folder, env=_env(folder), capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    from factory.data.synth import generate_bars

    folder = tmp_path_factory.mktemp("train_run")
    generate_bars(N_BARS, seed=5).to_parquet(folder / "bars.parquet")
    return folder


@pytest.fixture(scope="module")
def trained(workdir):
    res = _mlflow_run(workdir, "train", model="lightgbm", data=workdir / "bars.parquet", config=SMALL_CONFIG)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.fixture
def tracking(workdir, monkeypatch):
    import mlflow

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield mlflow.MlflowClient(uri)
    mlflow.set_tracking_uri(None)


def test_train_prints_run_uri_and_serve_command(trained):
    out = trained.stdout
    assert "run_id: " in out
    assert "model_uri: models:/mes-lightgbm/1" in out
    assert "serve: factory serve -m models:/mes-lightgbm/1 -h 127.0.0.1 -p 5000" in out
    assert "(or: mlflow models serve -m models:/mes-lightgbm/1 --env-manager local -h 127.0.0.1 -p 5000)" in out


def test_train_shows_the_pipeline_steps_progress_on_stderr(trained):
    """`-e train` is not quiet: tqdm writes each pipeline step to stderr, which `mlflow run` passes through."""
    err = trained.stderr
    for step in ("features", "regimes (HMM, forward filter)", "barrier tuning (train only)", "labels",
                 "split (purge + embargo)"):
        assert f"{step}:" in err, step
    assert "dataset: " in trained.stdout  # the summary line after the pipeline


def test_run_has_params_metrics_plots_and_model(trained, tracking):
    run_id = trained.stdout.split("run_id: ")[1].split()[0]
    run = tracking.get_run(run_id)
    assert run.info.status == "FINISHED"
    for m in ("val_log_loss", "test_log_loss", "test_accuracy", "test_f1_macro", "test_brier", "test_net_sharpe",
              "test_win_rate", "test_max_drawdown_usd", "test_n_trades", "n_bars"):
        assert m in run.data.metrics, m
    assert run.data.params["model.key"] == "lightgbm"
    assert run.data.params["features.windows"] == "[10, 20, 60]"  # the config file's pipeline section applied
    plots = {a.path for a in tracking.list_artifacts(run_id, "plots")}
    for name in ("confusion_matrix_test.png", "calibration_test.png", "equity_curve.png", "feature_importance.png",
                 "shap_importance.png"):
        assert f"plots/{name}" in plots, name
    import mlflow
    import pandas as pd

    shap = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="importance/shap_mean_abs.csv",
                                                           tracking_uri=tracking.tracking_uri))
    gain = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="importance/gain.csv",
                                                           tracking_uri=tracking.tracking_uri))
    assert set(shap["feature"]) == set(gain["feature"]) and len(shap) > 100
    assert (shap["mean |SHAP|"] >= 0).all() and shap["mean |SHAP|"].iloc[0] > 0
    assert shap["mean |SHAP|"].is_monotonic_decreasing
    # (the Sharpe interval needs 5 days of test bars; this test window has fewer, so it is NaN and not logged)
    for m in ("test_sortino", "test_profit_factor", "test_ece", "test_turnover", "test_exposure"):
        assert m in run.data.metrics, m
    # Per regime: every kind splits the test segment's bars; the HMM states (defined on every bar after the
    # warm-up) add up to the whole segment's net P&L.
    regimes = pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="backtest/regimes_test.csv", tracking_uri=tracking.tracking_uri))
    assert set(regimes["kind"]) == {"volatility", "trend", "volatility_x_trend", "hmm"}
    cross = regimes[regimes["kind"] == "volatility_x_trend"].set_index("regime")["n_bars"]
    vol = regimes[regimes["kind"] == "volatility"].set_index("regime")["n_bars"]
    for v in vol.index:  # each volatility regime's bars split into its trending and mean-reverting ones
        assert cross.filter(like=f"{v}_").sum() == vol[v]
    hmm = regimes[regimes["kind"] == "hmm"]
    assert hmm["net_pnl_usd"].sum() == pytest.approx(run.data.metrics["test_net_pnl_usd"], abs=1e-6)
    # Every trade belongs to the regime of its signal bar: the states' trades are the segment's trades.
    assert hmm["n_trades"].sum() == run.data.metrics["test_n_trades"]
    assert {"sortino", "max_drawdown_usd", "win_rate", "profit_factor"} <= set(regimes.columns)
    assert (regimes.groupby("kind")["n_bars"].sum() <= hmm["n_bars"].sum()).all()


def test_registered_version_loads_and_predicts(trained, tracking, workdir):
    import mlflow
    import pandas as pd

    model = mlflow.pyfunc.load_model("models:/mes-lightgbm/1")
    meta = model.metadata.metadata
    assert meta["factory_model"] == "lightgbm" and meta["contract"] == "MES"
    bars = pd.read_parquet(workdir / "bars.parquet").iloc[-(meta["min_bars"] + 10):]
    out = model.predict(bars, params={"last_only": True})
    assert len(out) == 1 and out["timestamp"].iloc[0] == bars["timestamp"].iloc[-1]
    assert abs(out[["prob_down", "prob_flat", "prob_up"]].to_numpy().sum() - 1) < 1e-12


def test_version_carries_evaluation_tags_and_table(trained, tracking):
    mv = tracking.get_model_version("mes-lightgbm", "1")
    for tag in ("test_net_sharpe", "test_win_rate", "test_max_drawdown_usd", "test_n_trades", "test_log_loss",
                "data_sha256", "test_start", "test_end"):
        assert tag in mv.tags, tag
    assert "| Net Sharpe (annualised) |" in mv.description and "| Trades |" in mv.description


def test_promote_entry_point(trained, tracking, workdir):
    gates = workdir / "gates.yaml"
    # A freshly trained version has no leaderboard `pbo` / `dsr` tags: those gates are switched off here explicitly.
    gates.write_text("promotion:\n  champion: {min_net_sharpe: null, min_trades: 0, max_pbo: null, min_dsr: null}\n")
    res = _mlflow_run(workdir, "promote", name="mes-lightgbm", version=1, alias="champion", config=gates)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    mv = tracking.get_model_version("mes-lightgbm", "1")
    assert mv.aliases == ["champion"] and mv.current_stage == "Production"
    assert f"gates off: min_net_sharpe, max_pbo, min_dsr (switched off by {gates})" in res.stdout
    assert f"- max_pbo: switched off by {gates}" in mv.description


def test_bad_config_fails_before_any_run(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {num_leaves: 7, no_such_setting: 1}\n")
    res = subprocess.run([sys.executable, "-m", "factory.cli", "train", "--model", "lightgbm", "--config", str(bad)],
                         cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "no_such_setting" in res.stderr and res.stderr.startswith("error: ")
    assert not (tmp_path / "mlflow.db").exists()  # nothing was logged


def test_unknown_model_key_is_one_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "factory.cli", "train", "--model", "nope"], cwd=tmp_path,
                         env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "unknown model 'nope'" in res.stderr and "Traceback" not in res.stderr


def test_a_deep_model_trains_through_mlflow_run_with_its_training_curve(workdir, tracking):
    """The main job's model: `mlflow run . -e train -P model=tcn` logs the per-epoch losses as step metrics, the
    training curve and a pyfunc whose weights are safetensors, and the version loads and predicts."""
    import mlflow
    import pandas as pd

    res = _mlflow_run(workdir, "train", model="tcn", data=workdir / "bars.parquet", config=SMALL_CONFIG)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    run_id = res.stdout.split("run_id: ")[1].split()[0]
    history = tracking.get_metric_history(run_id, "epoch_train_loss")
    assert len(history) >= 2 and [m.step for m in history] == list(range(len(history)))
    assert tracking.get_metric_history(run_id, "epoch_val_loss")
    assert "best_epoch" in tracking.get_run(run_id).data.metrics
    assert "plots/training_curve.png" in {a.path for a in tracking.list_artifacts(run_id, "plots")}
    model = mlflow.pyfunc.load_model("models:/mes-tcn/1")
    meta = model.metadata.metadata
    assert meta["input_kind"] == "window" and meta["min_bars"] == meta["input_lookback_bars"] + meta["window_length"]
    local = Path(mlflow.artifacts.download_artifacts("models:/mes-tcn/1", tracking_uri=tracking.tracking_uri))
    assert list(local.rglob("model.safetensors"))
    assert any(r.startswith("torch==") for r in (local / "requirements.txt").read_text().split())
    bars = pd.read_parquet(workdir / "bars.parquet").iloc[-meta["min_bars"]:]
    out = model.predict(bars, params={"last_only": True})
    assert len(out) == 1 and abs(out[["prob_down", "prob_flat", "prob_up"]].to_numpy().sum() - 1) < 1e-12


def _production_keys() -> list[str]:
    """The keys a user can train (the reference models exist only inside the test suite)."""
    from factory.models import get_model_class, list_models

    return [k for k in list_models() if get_model_class(k).family != "reference" and k not in ("lightgbm", "tcn")]


def _config_for(key: str, folder: Path) -> Path:
    from factory.models.testing import config_with_test_params

    return config_with_test_params(SMALL_CONFIG, key, folder)


@pytest.mark.slow
@pytest.mark.parametrize("key", _production_keys())
def test_every_other_key_trains_registers_and_loads(key, workdir, tracking):
    import mlflow
    import pandas as pd

    res = _mlflow_run(workdir, "train", model=key, data=workdir / "bars.parquet", config=_config_for(key, workdir))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"model_uri: models:/mes-{key}/1" in res.stdout
    model = mlflow.pyfunc.load_model(f"models:/mes-{key}/1")
    bars = pd.read_parquet(workdir / "bars.parquet").iloc[-(model.metadata.metadata["min_bars"] + 5):]
    assert len(model.predict(bars)) == 6
