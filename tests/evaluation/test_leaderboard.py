"""The CPCV leaderboard: shared splits, path assembly, error rows, per-split input fitting, MLflow runs and tags.

A few thousand synthetic bars with a planted edge, the small test config of tests/packaging (tiny models, a
400-bar embargo), barrier tuning off, 4 CPCV groups with 2 test groups (6 splits, 3 paths).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

SMALL_CONFIG = Path(__file__).resolve().parents[1] / "packaging" / "small_train.yaml"
N_BARS = 6000
GROUPS, TEST_GROUPS = 4, 2


def _settings():
    import yaml

    models = yaml.safe_load(SMALL_CONFIG.read_text())["models"]
    # xgboost with a setting that does not validate, and a window model whose window the embargo does not cover:
    # their rows must hold the errors, the others must not care.
    return {"logistic": models["logistic"], "lightgbm": models["lightgbm"], "xgboost": {"n_estimators": -3},
            "toy_window": {"window": 500}}


@pytest.fixture(scope="module")
def bars():
    from factory.data.synth import generate_bars, plant_edge

    return plant_edge(generate_bars(N_BARS, seed=3), every=120, horizon=10)[0]


@pytest.fixture(scope="module")
def dataset(bars):
    from factory.dataset import build_dataset
    from factory.train_config import load_train_config

    pc = load_train_config("logistic", str(SMALL_CONFIG)).pipeline
    labels = pc.labels.model_copy(update={"tuning": pc.labels.tuning.model_copy(update={"enabled": False})})
    return build_dataset(bars, pc.model_copy(update={"labels": labels}))


@pytest.fixture(scope="module")
def board(dataset, tmp_path_factory):
    from factory.evaluation.leaderboard import evaluate_models

    return evaluate_models(dataset, _settings(), n_groups=GROUPS, n_test_groups=TEST_GROUPS,
                           workdir=tmp_path_factory.mktemp("work"))


def test_table_columns_and_invariants(board, dataset):
    from factory.evaluation.leaderboard_stats import COLUMNS
    from factory.evaluation.performance import bars_per_year, sharpe

    table = board.table
    assert set(COLUMNS + ["error"]) <= set(table.columns)
    assert sorted(table["model"]) == ["lightgbm", "logistic", "toy_window", "xgboost"]  # one row per model
    assert any(c.startswith("sharpe_volatility_") for c in table.columns)
    assert any(c.startswith("sharpe_hmm_") for c in table.columns)
    ok = table[table["error"] == ""]
    assert len(ok) == 2
    plan = board.plan
    assert plan.n_paths == 3 and len(plan.splits) == 6
    n_bars = plan.stretches[-1][1] - plan.stretches[0][0]
    # Groups are adjacent stretches: every path covers the same bars, each exactly once.
    assert all(a[1] == b[0] for a, b in zip(plan.stretches, plan.stretches[1:]))
    for r in ok.itertuples():
        p = board.paths[r.model]
        assert p.pnl.shape == (3, n_bars)
        rate = bars_per_year(dataset.bars["timestamp"])
        per_path = [sharpe(x, rate) for x in p.pnl]
        assert r.net_sharpe_mean == pytest.approx(np.mean(per_path))
        assert r.net_sharpe_std == pytest.approx(np.std(per_path, ddof=1))
        assert r.net_sharpe_std >= 0
        assert 0 <= r.win_rate <= 1 and r.n_trades > 0 and r.max_drawdown_usd >= 0
        assert r.max_drawdown_usd <= r.max_drawdown_usd_worst
        assert r.log_loss > 0 and 0 <= r.ece <= 1
        assert 0 <= r.dsr <= 1
        # every labelled test sample is predicted once per path
        assert len(p.y) == 3 * sum(len(s) for s in plan.group_samples)
    # PBO is one number for the model set
    assert ok["pbo"].nunique() == 1 and 0 <= ok["pbo"].iloc[0] <= 1
    # paths differ (different splits' models), so their Sharpe spread is real
    assert (ok["net_sharpe_std"] > 0).all()


def test_paths_use_each_group_from_a_split_that_tested_it(board):
    plan = board.plan
    for row in plan.paths:
        for g, s in enumerate(row):
            assert g in plan.splits[s].test_groups
    # each (split, test group) result is used by exactly one path
    used = sorted((int(s), g) for row in plan.paths for g, s in enumerate(row))
    assert used == sorted((sp.index, g) for sp in plan.splits for g in sp.test_groups)


def test_failing_models_get_error_rows(board, dataset):
    table = board.table.set_index("model")
    assert "n_estimators" in table.loc["xgboost", "error"]
    assert "embargo" in table.loc["toy_window", "error"].lower()
    assert table.loc[["xgboost", "toy_window"], ["net_sharpe_mean", "pbo", "dsr"]].isna().all().all()
    assert (table.loc[["logistic", "lightgbm"], "error"] == "").all()
    assert set(board.table["model"].iloc[-2:]) == {"xgboost", "toy_window"}  # failed rows last
    # the failed window model does not move the shared splits' first row (tabular models start at the lookback)
    assert board.plan.stretches[0][0] == dataset.sample_rows[0]


def test_fit_and_validation_rows_are_clear_of_every_test_group(board, dataset):
    s = dataset.config.split
    t1 = dataset.labels["t1"].to_numpy()
    plan = board.plan
    for sp in plan.splits:
        assert len(sp.fit_rows) and len(sp.val_rows)
        assert sp.fit_rows.max() < sp.val_rows.min() or not np.intersect1d(sp.fit_rows, sp.val_rows).size
        for g in sp.test_groups:
            test = plan.group_samples[g]
            lo, hi = test.min(), t1[test].max()
            for rows in (sp.fit_rows, sp.val_rows):
                touching = (t1[rows] >= lo - s.purge_bars) & (rows <= hi + s.embargo_bars)
                assert not touching.any(), f"split {sp.index}: training sample touches test group {g}"
        # the validation block is purged/embargoed from the fitting samples
        lo, hi = sp.val_rows.min(), t1[sp.val_rows].max()
        assert not ((t1[sp.fit_rows] >= lo - s.purge_bars) & (sp.fit_rows <= hi + s.embargo_bars)).any()


# --------------------------------------------------------------------------------------------------- leakage
def _perturbed_in(dataset, stretches, seed=0):
    """The dataset with the bars of ``stretches`` changed (prices rescaled bar by bar, volumes multiplied)."""
    bars = dataset.bars.copy()
    rng = np.random.default_rng(seed)
    for lo, hi in stretches:
        f = 1.0 + 0.01 * rng.standard_normal(hi - lo)
        for col in ("open", "high", "low", "close"):
            bars.loc[lo:hi - 1, col] = bars[col].to_numpy()[lo:hi] * f
        bars.loc[lo:hi - 1, "volume"] = bars["volume"].to_numpy()[lo:hi] * rng.integers(2, 50, hi - lo)
    return dataclasses.replace(dataset, bars=bars)


def _fitted(inputs):
    return {"center": np.asarray(inputs.feature_state["center"]), "scale": np.asarray(inputs.feature_state["scale"]),
            "hmm_mean": inputs.hmm.mean_, "hmm_scale": inputs.hmm.scale_, "transmat": inputs.hmm.transmat_,
            "means": inputs.hmm.means_, "vol": np.asarray(inputs.vol_thresholds)}


def _same(a, b) -> list[str]:
    return [k for k in a if not np.array_equal(a[k], b[k])]


def test_split_inputs_are_fitted_on_the_split_training_rows_only(board, dataset):
    """Changing the bars of a split's test groups changes nothing the split fits; the same change is visible to
    a fit over every sample row (so the comparison has teeth)."""
    from factory.evaluation.split_inputs import fit_split_inputs

    sp = next(s for s in board.plan.splits if s.test_groups == (1, 2))  # test groups between training groups
    changed = _perturbed_in(dataset, [board.plan.stretches[g] for g in sp.test_groups])
    base, moved = fit_split_inputs(dataset, sp.train_rows), fit_split_inputs(changed, sp.train_rows)
    assert _same(_fitted(base), _fitted(moved)) == []
    everything = dataset.sample_rows
    differ = _same(_fitted(fit_split_inputs(dataset, everything)), _fitted(fit_split_inputs(changed, everything)))
    assert {"center", "scale", "hmm_mean", "transmat", "vol"} <= set(differ)


def test_leaderboard_refits_inputs_per_split_on_its_training_rows(dataset, tmp_path, monkeypatch):
    """The leaderboard fits each split's inputs on that split's training samples (never on test rows), and the
    datasets the models read carry those fits rather than the chronological prefix's."""
    import factory.evaluation.split_inputs as si
    from factory.evaluation import leaderboard as lbm

    calls = []
    real = si.fit_split_inputs

    def spy(ds, rows, raw=None):
        calls.append(np.asarray(rows))
        return real(ds, rows, raw)

    monkeypatch.setattr(si, "fit_split_inputs", spy)
    plan = lbm.plan_cpcv(dataset, GROUPS, TEST_GROUPS)
    folder = lbm.prepare_context(dataset, plan, tmp_path / "ctx")
    assert len(calls) == len(plan.splits)
    for sp, rows in zip(plan.splits, calls):
        np.testing.assert_array_equal(rows, sp.train_rows)
        test = np.concatenate([plan.group_samples[g] for g in sp.test_groups])
        assert not np.intersect1d(rows, test).size
        ds = lbm.split_dataset(str(folder), sp.index)
        expected = real(dataset, sp.train_rows).feature_state["center"]
        np.testing.assert_allclose(ds.feature_pipeline.center_, expected)
        assert not np.allclose(ds.feature_pipeline.center_, dataset.feature_pipeline.center_)
    lbm._CONTEXT.clear()
