"""PBO across the barrier search's trials: proposals from the proposal bars only, the choice train would make,
the CPCV kept clear of those bars, PBO / DSR over every candidate, and the job's runs, artifacts and tags."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory.errors import ConfigError

SMALL_CONFIG = Path(__file__).resolve().parents[1] / "packaging" / "small_train.yaml"
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(scope="module")
def bars():
    from factory.data.synth import generate_bars, plant_edge

    return plant_edge(generate_bars(6000, seed=3), every=120, horizon=10)[0]


@pytest.fixture(scope="module")
def labels():
    from factory.train_config import load_train_config

    return load_train_config("logistic", str(SMALL_CONFIG)).pipeline.labels


def _stretched(bars, rows, factor):
    """``bars`` with the bars ``rows`` ranges stretched by ``factor`` around their closes (still valid OHLC)."""
    out = bars.copy()
    c = out["close"].to_numpy()
    for col in ("high", "low"):
        v = out[col].to_numpy().copy()
        v[rows] = c[rows] + (v[rows] - c[rows]) * factor
        out[col] = v
    out["open"] = np.clip(out["open"], out["low"], out["high"])
    return out


def test_candidates_come_from_the_proposal_bars_only(bars, labels):
    from factory.evaluation.trials import propose

    cands, end = propose(bars, labels, "MES", 12, 0.3)
    assert end == 1800 and 1 <= len(cands) <= 12
    assert len({(t.k_up, t.k_down, t.horizon) for t in cands}) == len(cands)  # repeats kept once
    # Bars from tuning_end on, three times as volatile: not one candidate or score may move.
    later = propose(_stretched(bars, np.arange(end, len(bars)), 3.0), labels, "MES", 12, 0.3)[0]
    assert later == cands
    # The same change inside the proposal bars does move them: the comparison above can fail.
    inside = propose(_stretched(bars, np.arange(0, end), 3.0), labels, "MES", 12, 0.3)[0]
    assert inside != cands


def test_chosen_candidate_is_the_one_train_tuning_picks_on_those_bars(bars, labels):
    from factory.contracts import get_contract
    from factory.evaluation.trials import chosen_index, propose
    from factory.labels import tune_barriers

    cands, end = propose(bars, labels, "MES", 12, 0.3)
    c = cands[chosen_index(cands)]
    search = labels.model_copy(update={"tuning": labels.tuning.model_copy(update={"n_trials": 12})})
    tuned = tune_barriers(bars.iloc[:end].reset_index(drop=True), search, get_contract("MES").cost_model())
    assert (c.k_up, c.k_down, c.horizon, c.score) == (tuned.k_up, tuned.k_down, tuned.horizon, tuned.score)
    applied = c.apply(labels)
    assert (applied.k_up, applied.k_down, applied.horizon, applied.tuning.enabled) == (c.k_up, c.k_down,
                                                                                       c.horizon, False)


def test_chosen_index_takes_the_earliest_best_and_bad_inputs_are_named():
    from factory.evaluation.trials import chosen_index, propose, tuning_end_of
    from factory.labels import BarrierTrial

    ts = [BarrierTrial(0, 1.0, 1.0, 5, 0.4), BarrierTrial(3, 2.0, 1.0, 5, 0.7), BarrierTrial(5, 3.0, 1.0, 5, 0.7)]
    assert chosen_index(ts) == 1
    with pytest.raises(ConfigError, match="no candidate"):
        chosen_index([])
    for w in (0, 1, 1.5, -0.1):
        with pytest.raises(ConfigError, match="tuning window"):
            tuning_end_of(1000, w)
    with pytest.raises(ConfigError, match="at least one Optuna trial"):
        propose(pd.DataFrame(), None, "MES", 0, 0.25)


def _board(key_pnl: dict[str, np.ndarray], start: str, sharpes: dict[str, float]):
    """A Leaderboard holding, per model, two identical paths of the given per-bar P&L from ``start``."""
    from factory.evaluation.leaderboard_stats import Leaderboard, ModelPaths

    t = len(next(iter(key_pnl.values())))
    paths = {k: ModelPaths(k, np.vstack([v, v]), np.zeros((2, t)), np.zeros(2), pd.DataFrame(), np.zeros(0),
                           np.zeros((0, 3)), {"net_sharpe_per_bar": sharpes[k]}) for k, v in key_pnl.items()}
    table = pd.DataFrame({"model": list(key_pnl), "net_sharpe_mean": 0.0, "net_sharpe_std": 0.0, "win_rate": 0.5,
                          "n_trades": 1.0, "pbo": 0.5, "dsr": -1.0, "error": ""})
    ts = pd.Series(pd.date_range(start, periods=t, freq="1min", tz="UTC"))
    return Leaderboard(table, paths, None, ts, 0.5, "")


def test_combine_aligns_candidates_on_common_bars_and_deflates_by_every_trial():
    from scipy.stats import kurtosis, skew

    from factory.evaluation.trials import combine
    from factory.labels import BarrierTrial
    from factory.validation.stats import deflated_sharpe_ratio, probability_of_backtest_overfitting

    rng = np.random.default_rng(7)
    n = 400
    a = {k: rng.normal(0.02, 1, n + 10) for k in ("m1", "m2")}
    b = {k: rng.normal(0.0, 1, n) for k in ("m1", "m2")}
    c = {k: rng.normal(-0.01, 1, n + 5) for k in ("m1", "m2")}
    sh = {"a": {"m1": 0.03, "m2": 0.01}, "b": {"m1": -0.02, "m2": 0.0}, "c": {"m1": 0.05, "m2": -0.04}}
    # Candidates cover slightly different stretches (their horizons differ): a from bar 0, b from bar 10, c from 5.
    boards = [_board(a, "2024-01-02 00:00", sh["a"]), _board(b, "2024-01-02 00:10", sh["b"]),
              _board(c, "2024-01-02 00:05", sh["c"])]
    trials = [BarrierTrial(0, 1.0, 1.0, 5, 0.2), BarrierTrial(1, 2.0, 2.0, 10, 0.6), BarrierTrial(4, 3.0, 1.0, 8, 0.1)]
    out = combine(trials, boards, tuning_end=1234)
    assert out.chosen == 1 and out.board is boards[1] and out.tuning_end == 1234
    # The common bars are b's 400: a from its 11th bar, c from its 6th.
    m = np.column_stack([a["m1"][10:10 + n], b["m1"], c["m1"][5:5 + n]])
    expected = probability_of_backtest_overfitting(m, 16).pbo
    assert out.pbo_trials["m1"] == pytest.approx(expected)
    row = out.board.table.set_index("model").loc["m1"]
    assert row["pbo_trials"] == pytest.approx(expected) and row["n_trials"] == 6
    pool = [v for s in sh.values() for v in s.values()]
    dsr = deflated_sharpe_ratio(sh["b"]["m1"], n, 6, float(np.var(pool, ddof=1)), float(skew(b["m1"])),
                                float(kurtosis(b["m1"], fisher=False)))
    assert row["dsr"] == pytest.approx(dsr)
    assert len(out.table) == 6 and out.table["chosen"].sum() == 2
    assert set(out.table.loc[out.table["chosen"], "trial"]) == {1}
    with pytest.raises(ConfigError, match="3 candidates but 2"):
        combine(trials, boards[:2], 10)


def test_pbo_across_candidates_is_undefined_with_one_candidate_and_says_why():
    from factory.evaluation.trials import combine
    from factory.labels import BarrierTrial

    out = combine([BarrierTrial(0, 1.0, 1.0, 5, 0.2)], [_board({"m1": np.random.default_rng(0).normal(0, 1, 50)}, "2024-01-02", {"m1": 0.1})], 10)
    assert np.isnan(out.pbo_trials["m1"]) and "2 successful barrier candidates" in out.reasons["m1"]


def test_leaderboard_fits_and_tests_nothing_before_first_row(bars, labels, tmp_path):
    import yaml

    from factory.dataset import build_dataset
    from factory.evaluation.leaderboard import evaluate_models
    from factory.train_config import load_train_config

    pc = load_train_config("logistic", str(SMALL_CONFIG)).pipeline
    ds = build_dataset(bars, pc.model_copy(update={"labels": labels.model_copy(
        update={"tuning": labels.tuning.model_copy(update={"enabled": False})})}))
    settings = {"logistic": yaml.safe_load(SMALL_CONFIG.read_text())["models"]["logistic"]}
    board = evaluate_models(ds, settings, n_groups=4, n_test_groups=2, workdir=tmp_path, first_row=1800)
    assert board.table["error"].eq("").all()
    plan = board.plan
    assert plan.stretches[0][0] >= 1800
    for sp in plan.splits:
        assert sp.fit_rows.min() >= 1800 and sp.val_rows.min() >= 1800
    assert min(int(g.min()) for g in plan.group_samples) >= 1800


def test_evaluate_job_with_tuning_trials_logs_candidates_and_tags_pbo_trials(tracking, tmp_path, bars):
    import mlflow

    from factory.data.io import write_bars
    from factory.data.loading import load_bars
    from factory.jobs.evaluate import run_evaluate
    from factory.train_config import load_train_config

    data = tmp_path / "bars.parquet"
    write_bars(bars, data)
    sha = load_bars(str(data), load_train_config("logistic", str(SMALL_CONFIG)).pipeline).sha256
    c = mlflow.MlflowClient()
    c.create_registered_model("mes-logistic")
    with mlflow.start_run(run_name="fake-train") as run:
        mlflow.log_text("placeholder", "model/README.txt")
    mv = c.create_model_version("mes-logistic", f"{run.info.artifact_uri}/model", run_id=run.info.run_id,
                                tags={"data_sha256": sha}, description="trained")
    lines = []
    result = run_evaluate("logistic", data=str(data), config_file=str(SMALL_CONFIG), n_groups=4, n_test_groups=2,
                          workers=1, progress=False, echo=lines.append, tuning_trials=3, tuning_window=0.3)
    assert any("barrier search" in ln and "[0, 1,800)" in ln for ln in lines)
    row = result.table.set_index("model").loc["logistic"]
    trials = pd.read_csv(c.download_artifacts(result.run_id, "trials.csv", str(tmp_path / "dl")))
    k = len(trials)
    assert 1 <= k <= 3 and row["n_trials"] == k and trials["chosen"].sum() == 1
    assert (0 <= row["pbo_trials"] <= 1) if k > 1 else np.isnan(row["pbo_trials"])
    params = c.get_run(result.run_id).data.params
    chosen = trials[trials["chosen"]].iloc[0]
    assert params["labels.tuning"] == "trials" and params["tuning.window_bars"] == "1800"
    assert float(params["labels.k_up"]) == chosen["k_up"] and int(params["labels.horizon"]) == chosen["horizon"]
    assert "plots/trial_sharpe.png" in {f.path for f in c.list_artifacts(result.run_id, "plots")}
    # The leaderboard is the chosen candidate's.
    assert row["net_sharpe_mean"] == pytest.approx(chosen["net_sharpe_mean"])
    tagged = c.get_model_version("mes-logistic", mv.version)
    if k > 1:
        assert float(tagged.tags["pbo_trials"]) == pytest.approx(row["pbo_trials"])
    assert "barrier candidates" in tagged.description
