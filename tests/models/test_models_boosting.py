"""LightGBM and XGBoost specifics: early stopping, class weights, threads, importances, SHAP, native files."""

from __future__ import annotations

import os

import numpy as np
import pytest

from factory.models import create_model, get_model_class
from factory.models.testing import make_toy_data

BOOSTERS = ["lightgbm", "xgboost"]


@pytest.fixture(scope="module")
def frames():
    X, y = make_toy_data(600, 8, seed=0, as_frame=True)
    Xv, yv = make_toy_data(200, 8, seed=1, as_frame=True)
    return X, y, Xv, yv


def _model(key, **kw):
    return create_model(key, **{**get_model_class(key).get_test_params(), **kw})


@pytest.mark.parametrize("key", BOOSTERS)
def test_early_stopping_stops_on_noise(key):
    rng = np.random.default_rng(0)
    X, Xv = rng.normal(size=(500, 6)), rng.normal(size=(200, 6))
    y, yv = rng.integers(-1, 2, 500), rng.integers(-1, 2, 200)
    model = _model(key, n_estimators=300, learning_rate=0.3, early_stopping_rounds=10).fit(X, y, eval_set=(Xv, yv))
    assert 1 <= model.best_iteration_ < 50
    # Without a validation set there is nothing to stop on: every round is trained.
    assert _model(key, n_estimators=30).fit(X, y).best_iteration_ == 30


@pytest.mark.parametrize("key", BOOSTERS)
def test_feature_importance_by_name_finds_the_signal(key, frames):
    X, y, Xv, yv = frames
    imp = _model(key, n_estimators=60).fit(X, y, eval_set=(Xv, yv)).feature_importance()
    assert list(imp.index) == list(X.columns) and imp.name == "gain"
    assert (imp >= 0).all() and imp.sum() > 0
    assert set(imp.nlargest(2).index) == {"feat_0", "feat_1"}


@pytest.mark.parametrize("key", BOOSTERS)
def test_shap_contributions_sum_to_the_raw_margin(key, frames):
    X, y, Xv, yv = frames
    model = _model(key).fit(X, y, eval_set=(Xv, yv))
    shap = model.shap_values(Xv)
    assert shap.shape == (len(Xv), 3, X.shape[1] + 1)
    raw = model.predict_raw(Xv)
    np.testing.assert_allclose(shap.sum(axis=2), raw, rtol=1e-4, atol=1e-4)
    softmax = np.exp(raw - raw.max(axis=1, keepdims=True))
    np.testing.assert_allclose(softmax / softmax.sum(axis=1, keepdims=True), model.predict_proba(Xv), atol=1e-5)


@pytest.mark.parametrize("key", BOOSTERS)
def test_balanced_class_weight_lifts_the_rare_class(key):
    X, y = make_toy_data(900, 6, seed=4)
    keep = (y != 1) | (np.arange(len(y)) % 6 == 0)  # "up" becomes rare
    X, y = X[keep], y[keep]
    plain = _model(key, n_estimators=40, class_weight=None).fit(X, y).predict_proba(X)[:, 2].mean()
    balanced = _model(key, n_estimators=40, class_weight="balanced").fit(X, y).predict_proba(X)[:, 2].mean()
    assert balanced > plain * 1.3
    # Sample weights combine with class weights: weighting "up" rows more lifts "up" further.
    w = np.where(y == 1, 3.0, 1.0)
    heavier = _model(key, n_estimators=40, class_weight=None).fit(X, y, sample_weight=w).predict_proba(X)[:, 2].mean()
    assert heavier > plain


@pytest.mark.parametrize("key", BOOSTERS)
def test_threads_default_to_the_machine_and_runs_repeat(key, frames):
    X, y, Xv, yv = frames
    model = _model(key, n_jobs=None)
    threads = model._params().get("num_threads", model._params().get("nthread"))
    assert threads == os.cpu_count()
    a = model.fit(X, y, eval_set=(Xv, yv)).predict_proba(Xv)
    b = _model(key, n_jobs=None).fit(X, y, eval_set=(Xv, yv)).predict_proba(Xv)
    np.testing.assert_array_equal(a, b)
    c = _model(key, n_jobs=None, seed=7).fit(X, y, eval_set=(Xv, yv)).predict_proba(Xv)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("key", BOOSTERS)
def test_nan_features_are_accepted(key, frames):
    X, y, Xv, yv = frames
    Xn = X.copy()
    Xn.iloc[::7, 0] = np.nan
    Xvn = Xv.copy()
    Xvn.iloc[::5, :3] = np.nan
    proba = _model(key).fit(Xn, y).predict_proba(Xvn)
    assert np.isfinite(proba).all()


def test_saved_files_are_native_and_truncated(frames, tmp_path):
    import lightgbm as lgb
    import xgboost as xgb

    X, y, Xv, yv = frames
    lgbm = _model("lightgbm", n_estimators=200, early_stopping_rounds=5).fit(X, y, eval_set=(Xv, yv))
    lgbm.save(tmp_path / "l")
    native = lgb.Booster(model_file=str(tmp_path / "l" / "booster.txt"))
    assert native.num_trees() == 3 * lgbm.best_iteration_
    np.testing.assert_allclose(native.predict(Xv.to_numpy()), lgbm.predict_proba(Xv), atol=1e-12)

    xgbm = _model("xgboost", n_estimators=200, early_stopping_rounds=5).fit(X, y, eval_set=(Xv, yv))
    xgbm.save(tmp_path / "x")
    booster = xgb.Booster()
    booster.load_model(str(tmp_path / "x" / "booster.json"))
    assert booster.num_boosted_rounds() == xgbm.best_iteration_ < 200
    np.testing.assert_allclose(booster.predict(xgb.DMatrix(Xv.to_numpy())), xgbm.predict_proba(Xv), atol=1e-6)
