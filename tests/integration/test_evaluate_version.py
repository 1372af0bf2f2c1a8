"""`factory evaluate --model-uri ... --data FILE` (``run_evaluate_version``): one registered version on a held-out file.

A tiny LightGBM is trained once (module fixture) into a SQLite store in a temporary folder. The strongest check:
the last test window of the training file, cut out with exactly the version's lookback in front of it, scored
as a "held-out" file, reproduces the version's own ``test_*`` numbers to the last digit, which only holds when
the inputs, labels, costs and backtest are the version's own (nothing refitted).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from factory.errors import ConfigError, FactoryError
from factory.packaging.registry import RegistryError

REPO = Path(__file__).resolve().parents[2]
SMALL_CONFIG = REPO / "tests" / "packaging" / "small_train.yaml"
NAME = "mes-lightgbm"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A trained, registered version ``mes-lightgbm/1`` and its training bars, in a module-wide store."""
    import mlflow

    from factory.data.synth import generate_bars
    from factory.jobs.train import run_train

    folder = tmp_path_factory.mktemp("evaluate_version")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    bars = generate_bars(4000, seed=5)
    bars.to_parquet(folder / "bars.parquet")
    with pytest.MonkeyPatch.context() as mp:
        # The working folder too: a SQLite store keeps its artifacts under ./mlruns.
        mp.chdir(folder)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        try:
            res = run_train("lightgbm", data=str(folder / "bars.parquet"), config_file=str(SMALL_CONFIG),
                            progress=False, echo=lambda *a: None)
        finally:
            mlflow.set_tracking_uri(None)
    assert res.version == "1"
    return uri, folder, bars


@pytest.fixture
def tracking(store, monkeypatch):
    import mlflow

    uri, folder, bars = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield mlflow.MlflowClient(uri), folder, bars
    mlflow.set_tracking_uri(None)


def _evaluate_runs(client):
    exp_ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(exp_ids, "tags.`factory.entry_point` = 'evaluate'")


def test_tail_of_training_file_reproduces_the_versions_test_numbers(tracking, tmp_path):
    from factory.jobs.evaluate_version import run_evaluate_version

    client, _, bars = tracking
    mv = client.get_model_version(NAME, "1")
    lookback = int(client.get_run(mv.run_id).data.metrics["input_lookback_bars"])  # tabular model: no window
    tail = tmp_path / "tail.parquet"
    bars.iloc[int(mv.tags["test_start_row"]) - lookback:].to_parquet(tail)
    printed: list[str] = []
    res = run_evaluate_version(f"models:/{NAME}/1", str(tail), echo=printed.append)

    # The version's tags are rounded to 4 significant digits; the train run keeps the full-precision numbers.
    trained = client.get_run(mv.tags["run_id"]).data.metrics
    for key in ("net_sharpe", "n_trades", "net_pnl_usd", "max_drawdown_usd", "win_rate", "n_samples", "log_loss",
                "accuracy", "brier"):
        assert res.metrics[f"heldout_{key}"] == pytest.approx(trained[f"test_{key}"], rel=1e-12, abs=1e-12), key
        if key != "n_samples":  # not a version tag
            assert float(mv.tags[f"test_{key}"]) == pytest.approx(trained[f"test_{key}"], rel=5e-4), key
    assert res.metrics["heldout_n_bars"] == int(mv.tags["test_end_row"]) - int(mv.tags["test_start_row"])
    # These bars are the version's own data: scored, but flagged.
    assert res.overlap_bars == len(pd.read_parquet(tail))
    assert any("are not held out" in line for line in printed)

    run = client.get_run(res.run_id)
    assert run.data.tags["factory.entry_point"] == "evaluate"
    assert run.data.tags["factory.evaluated_model_uri"] == f"models:/{NAME}/1"
    assert run.data.tags["factory.evaluated_version"] == "1"
    assert run.data.metrics["heldout_net_sharpe"] == pytest.approx(res.metrics["heldout_net_sharpe"])
    assert not any(k.startswith(("test_", "val_")) for k in run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(res.run_id, "backtest")} | {
        a.path for a in client.list_artifacts(res.run_id, "plots")}
    assert {"backtest/trades_heldout.csv", "plots/equity_curve_heldout.png"} <= artifacts
    trades = pd.read_csv(client.download_artifacts(res.run_id, "backtest/trades_heldout.csv", str(tmp_path)))
    assert len(trades) == int(float(mv.tags["test_n_trades"]))
    assert client.get_model_version(NAME, "1").tags["heldout_run_id"] == res.run_id
    table = "\n".join(printed)
    sharpe = trained["test_net_sharpe"]  # the table shows the train run's full numbers, not the rounded tags
    assert f"| Net Sharpe (annualised) | {sharpe:.3f} | {sharpe:.3f} |" in table


def test_later_file_via_alias_is_held_out(tracking, tmp_path):
    from factory.data.synth import generate_bars
    from factory.jobs.evaluate_version import run_evaluate_version

    client, _, _ = tracking
    client.set_registered_model_alias(NAME, "champion", "1")
    later = tmp_path / "later.csv"
    generate_bars(900, seed=11, start="2024-03-03 23:00:00+00:00").to_csv(later, index=False)
    res = run_evaluate_version(f"models:/{NAME}@champion", str(later), contract="mes", echo=lambda *a: None)
    assert res.model_uri == f"models:/{NAME}/1" and res.overlap_bars == 0
    train_run = client.get_run(client.get_model_version(NAME, "1").run_id).data
    # The labels use the version's barriers, as logged by its train run.
    assert int(client.get_run(res.run_id).data.params["label.horizon"]) == int(train_run.metrics["barrier_horizon"])
    lookback = int(train_run.metrics["input_lookback_bars"])
    assert res.metrics["heldout_n_bars"] == 900 - lookback
    assert 0 < res.metrics["heldout_n_samples"] <= 900 - lookback
    assert 0.0 <= res.metrics["heldout_win_rate"] <= 1.0
    # The per-regime table: HMM states from the version's HMM, volatility terciles of this file.
    regimes = pd.read_csv(client.download_artifacts(res.run_id, "backtest/regimes_heldout.csv", str(tmp_path)))
    assert set(regimes["kind"]) == {"volatility", "trend", "volatility_x_trend", "hmm"}
    assert client.get_run(res.run_id).data.tags["heldout_vol_regime_thresholds"] == "heldout_file"


def test_clear_errors_and_no_run_logged(tracking, tmp_path):
    from factory.data.synth import generate_bars
    from factory.jobs.evaluate_version import run_evaluate_version

    client, _, _ = tracking
    before = len(_evaluate_runs(client))
    short = tmp_path / "short.parquet"
    generate_bars(300, seed=3, start="2024-03-03 23:00:00+00:00").to_parquet(short)
    ok = tmp_path / "ok.parquet"
    generate_bars(600, seed=3, start="2024-03-03 23:00:00+00:00").to_parquet(ok)
    quiet = {"echo": lambda *a: None}
    with pytest.raises(RegistryError, match="no registered model named 'mes-nope'"):
        run_evaluate_version("models:/mes-nope@champion", str(ok), **quiet)
    with pytest.raises(RegistryError, match="has no version with alias 'challenger'"):
        run_evaluate_version(f"models:/{NAME}@challenger", str(ok), **quiet)
    with pytest.raises(RegistryError, match="has no version 7"):
        run_evaluate_version(f"models:/{NAME}/7", str(ok), **quiet)
    with pytest.raises(FactoryError, match=r"short\.parquet has 300 bars; models:/mes-lightgbm/1 needs at least "
                                           r"\d+: min_bars \d+ \(its lookback \+ 1\) plus its label horizon"):
        run_evaluate_version(f"models:/{NAME}/1", str(short), **quiet)
    with pytest.raises(ConfigError, match="contract mismatch: models:/mes-lightgbm/1 was trained on MES, not MGC"):
        run_evaluate_version(f"models:/{NAME}/1", str(ok), contract="MGC", **quiet)
    cfg = tmp_path / "over.yaml"
    cfg.write_text("features: {windows: [5]}\n")
    with pytest.raises(ConfigError, match=r"only the 'data' section .* \['features'\] belong to the version"):
        run_evaluate_version(f"models:/{NAME}/1", str(ok), config_file=str(cfg), **quiet)
    assert len(_evaluate_runs(client)) == before


def test_module_command_error_is_one_line(tracking, tmp_path):
    res = subprocess.run([sys.executable, "-m", "factory.jobs.evaluate_version", "--model-uri",
                          "models:/mes-nope@champion", "--data", str(tmp_path / "x.parquet")],
                         capture_output=True, text=True, timeout=300, env=dict(os.environ), cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == "error: no registered model named 'mes-nope'"


def test_train_writes_per_bar_sharpe_and_names_selection_metrics(tracking):
    """What the deflated champion comparison reads, and the selection / held-out naming of the train run."""
    from factory.jobs.train import SELECTION_NOTE

    client, _, _ = tracking
    mv = client.get_model_version(NAME, "1")
    n_bars = int(mv.tags["test_n_bars"])
    assert n_bars == int(mv.tags["test_end_row"]) - int(mv.tags["test_start_row"])
    # The annualised Sharpe is the per-bar one times sqrt(bars per year of the window).
    years = (pd.Timestamp(mv.tags["test_end"]) - pd.Timestamp(mv.tags["test_start"])).total_seconds() / (
        365.25 * 24 * 3600)
    run = client.get_run(mv.run_id)
    m = run.data.metrics
    assert m["test_n_bars"] == n_bars
    assert m["test_sharpe_per_bar"] * ((n_bars - 1) / years) ** 0.5 == pytest.approx(m["test_net_sharpe"], rel=1e-9)
    # The version carries the same numbers rounded to 4 significant digits (what the champion comparison reads).
    assert float(mv.tags["test_sharpe_per_bar"]) == pytest.approx(m["test_sharpe_per_bar"], rel=5e-4)
    assert run.data.tags["factory.metrics.val"] == SELECTION_NOTE
    assert SELECTION_NOTE.startswith("selection (validation: in-sample for model choice)")
    assert "`val_*` metrics are **selection** metrics" in run.data.tags["mlflow.note.content"]
    assert "val_net_sharpe" in run.data.metrics  # the metric keys themselves are unchanged
    assert "| Metric | Selection (validation: in-sample for model choice) | Held-out test |" in mv.description
    assert "| Deflated Sharpe ratio | n/a (run `factory evaluate --models lightgbm` on the same data) |" \
        in mv.description
