"""Stacking: out-of-fold predictions never see their own label or any overlapping label (purge + embargo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from factory.errors import LeakageError
from factory.models import FactoryModel, create_model, get_model_class, load_model
from factory.models import registry
from factory.models.errors import ModelInputError
from factory.models.testing import make_spans, make_toy_data

PURGE, EMBARGO = 3, 4


class SpyModel(FactoryModel):
    """Records the row ids (feature 0) it was fitted on and the rows it predicted; predicts class frequencies."""

    key = "spy"
    family = "test"
    allows_nan = True
    log: list[tuple[np.ndarray, np.ndarray]] = []

    def _fit(self, X, y, w, eval_set, spans):
        self.seen_ = X[:, 0].astype(int)
        self.freq_ = np.bincount(y, minlength=3) / len(y)

    def _predict_proba(self, X):
        SpyModel.log.append((self.seen_, X[:, 0].astype(int)))
        return np.tile(self.freq_, (len(X), 1))

    def _save(self, folder: Path) -> dict[str, Any]:
        return {"freq": self.freq_}

    def _load(self, folder: Path, state: dict[str, Any]) -> None:
        self.freq_ = np.asarray(state["freq"])


@pytest.fixture
def spy(monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, "spy", SpyModel)
    SpyModel.log = []
    return SpyModel


def _data(n=300, horizon=12):
    X, y = make_toy_data(n, 4, seed=2)
    X[:, 0] = np.arange(n)  # row id, read back by the spy
    t0, t1 = make_spans(n, horizon=horizon, seed=3)
    return X, y, t0, t1


def test_oof_predictions_never_see_their_own_or_overlapping_labels(spy):
    X, y, t0, t1 = _data()
    t1 = t1.copy()
    t1[150] = -1  # a sample without a valid label: never predicted out of fold, never trained on in folds
    model = create_model("stacking", members=["spy"], n_splits=4, purge_bars=PURGE, embargo_bars=EMBARGO)
    model.fit(X, y, t0=t0, t1=t1)
    assert len(spy.log) == 4  # one prediction per fold, made by that fold's member; none by the refit member
    predicted = np.concatenate([rows for _, rows in spy.log])
    valid = np.flatnonzero(t1 >= 0)
    np.testing.assert_array_equal(np.sort(predicted), valid)  # every valid sample exactly once
    for seen, rows in spy.log:
        assert not np.intersect1d(seen, rows).size
        assert 150 not in seen
        # For every predicted sample i and every training sample j of its member, j's label span must end
        # at least PURGE bars before i's span starts, or start more than EMBARGO bars after i's span ends.
        touches = (t1[seen][None, :] >= t0[rows][:, None] - PURGE) & (t0[seen][None, :] <= t1[rows][:, None] + EMBARGO)
        assert not touches.any()
        assert len(seen) > 0.4 * len(X)  # purging removed a margin, not everything
    # The folds the model recorded are the ones the spies saw.
    for (tr, te), (seen, rows) in zip(model.folds_, spy.log):
        np.testing.assert_array_equal(tr, seen)
        np.testing.assert_array_equal(te, rows)
    covered = ~np.isnan(model.oof_proba_).any(axis=(1, 2))
    np.testing.assert_array_equal(np.flatnonzero(covered), valid)
    # The members used at inference are refitted on every training row.
    np.testing.assert_array_equal(model.members_[0].seen_, np.arange(len(X)))


def test_meta_learner_is_trained_on_out_of_fold_probabilities():
    X, y = make_toy_data(400, 6, seed=0)
    Xv, yv = make_toy_data(200, 6, seed=1)
    t0, t1 = make_spans(400)
    params = get_model_class("stacking").get_test_params()
    model = create_model("stacking", **params).fit(X, y, eval_set=(Xv, yv), t0=t0, t1=t1)
    assert model.meta_.feature_names_in_ == ["lightgbm_p_down", "lightgbm_p_flat", "lightgbm_p_up",
                                             "logistic_p_down", "logistic_p_flat", "logistic_p_up"]
    covered = ~np.isnan(model.oof_proba_).any(axis=(1, 2))
    meta_X = model.oof_proba_[covered].reshape(covered.sum(), -1)
    refit = create_model("logistic", seed=model.config.seed).fit(meta_X, y[covered])
    np.testing.assert_allclose(refit.estimator_.coef_, model.meta_.estimator_.coef_)
    assert (model.predict(Xv) == yv).mean() > 0.45


def test_label_spans_are_required_and_accepted_via_setter():
    X, y, t0, t1 = _data(120)
    params = {"members": ["logistic"], "n_splits": 3, "purge_bars": 2, "embargo_bars": 2}
    with pytest.raises(ModelInputError, match="label spans"):
        create_model("stacking", **params).fit(X, y)
    a = create_model("stacking", **params).set_label_spans(t0, t1).fit(X, y).predict_proba(X)
    b = create_model("stacking", **params).fit(X, y, t0=t0, t1=t1).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_embargo_shorter_than_the_input_lookback_is_a_leak():
    X, y, t0, t1 = _data(120)
    model = create_model("stacking", members=["logistic"], n_splits=3, purge_bars=2, embargo_bars=5)
    with pytest.raises(LeakageError, match="embargo_bars=5"):
        model.fit(X, y, t0=t0, t1=t1, input_lookback=30)
    model.fit(X, y, t0=t0, t1=t1, input_lookback=5)  # an embargo as long as the lookback is enough


def test_saved_with_members_and_meta(tmp_path):
    X, y, t0, t1 = _data(200)
    model = create_model("stacking", members=["logistic", "xgboost"], n_splits=3, purge_bars=2, embargo_bars=2,
                         member_params={"xgboost": get_model_class("xgboost").get_test_params()})
    model.fit(X, y, t0=t0, t1=t1).save(tmp_path / "s")
    assert (tmp_path / "s" / "meta" / "coefficients.json").is_file()
    assert (tmp_path / "s" / "members" / "01_xgboost" / "booster.json").is_file()
    np.testing.assert_array_equal(load_model(tmp_path / "s").predict_proba(X), model.predict_proba(X))
