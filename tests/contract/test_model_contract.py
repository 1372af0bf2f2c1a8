"""The contract every registered model honours, checked for each key with its tiny test settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from factory.errors import ConfigError, FactoryError
from factory.models import create_model, get_model_class, list_models, load_model
from factory.models.errors import ModelInputError, NotFittedError
from factory.models.registry import INPUT_KINDS
from factory.models.testing import make_spans, make_toy_data

N, N_VAL, F = 600, 200, 12
KEYS = list_models()


@pytest.fixture(scope="module")
def data():
    X, y = make_toy_data(N, F, seed=0)
    Xv, yv = make_toy_data(N_VAL, F, seed=1)
    t0, t1 = make_spans(N)
    return X, y, Xv, yv, t0, t1


def _new(key: str):
    return create_model(key, **get_model_class(key).get_test_params())


def _fit(key, X, y, t0, t1, eval_set=None, sample_weight=None):
    return _new(key).fit(X, y, sample_weight=sample_weight, eval_set=eval_set, t0=t0, t1=t1)


def test_registry_has_the_tabular_models():
    assert {"xgboost", "lightgbm", "logistic", "voting", "stacking"} <= set(KEYS)


@pytest.mark.parametrize("key", KEYS)
def test_tags_and_test_params(key):
    cls = get_model_class(key)
    assert cls.key == key and cls.family
    assert cls.input_kind in INPUT_KINDS
    assert isinstance(cls.is_production_safe, bool) and isinstance(cls.needs_gpu, bool)
    params = cls.get_test_params()
    assert isinstance(params, dict)
    model = cls(**params)
    assert not model.is_fitted
    # Construction stores settings only: no fitted attribute exists yet.
    assert not [a for a in vars(model) if a.endswith("_") and not a.startswith("_")]
    with pytest.raises(ConfigError, match="no_such_setting"):
        cls(**params, no_such_setting=1)


@pytest.mark.parametrize("key", KEYS)
def test_fit_predict_and_proba_are_valid(key, data):
    X, y, Xv, yv, t0, t1 = data
    model = _new(key)
    assert model.fit(X, y, eval_set=(Xv, yv, np.ones(N_VAL)), t0=t0, t1=t1) is model
    proba = model.predict_proba(Xv)
    assert proba.shape == (N_VAL, 3) and proba.dtype == np.float64
    assert np.isfinite(proba).all() and (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    pred = model.predict(Xv)
    assert set(np.unique(pred)) <= {-1, 0, 1}
    np.testing.assert_array_equal(pred, np.array([-1, 0, 1])[proba.argmax(axis=1)])
    # There is signal in the toy data: better than the 1/3 of guessing.
    assert (pred == yv).mean() > 0.4
    assert list(model.classes_) == [-1, 0, 1]


@pytest.mark.parametrize("key", KEYS)
def test_seeded_runs_are_identical(key, data):
    X, y, Xv, yv, t0, t1 = data
    w = np.random.default_rng(3).uniform(0.5, 1.5, N)
    a = _fit(key, X, y, t0, t1, eval_set=(Xv, yv), sample_weight=w).predict_proba(Xv)
    b = _fit(key, X, y, t0, t1, eval_set=(Xv, yv), sample_weight=w).predict_proba(Xv)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("key", KEYS)
def test_save_load_round_trip_without_pickle(key, data, tmp_path):
    X, y, Xv, yv, t0, t1 = data
    cols = [f"c{i}" for i in range(F)]
    import pandas as pd

    Xf, Xvf = pd.DataFrame(X, columns=cols), pd.DataFrame(Xv, columns=cols)
    model = _new(key).fit(Xf, y, eval_set=(Xvf, yv), t0=t0, t1=t1)
    folder = model.save(tmp_path / "m")
    loaded = load_model(folder)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert loaded.feature_names_in_ == cols
    np.testing.assert_array_equal(loaded.predict_proba(Xvf), model.predict_proba(Xvf))
    np.testing.assert_array_equal(get_model_class(key).load(folder).predict(Xv), model.predict(Xv))
    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    assert files and not [p for p in files if p.suffix in {".pkl", ".pickle", ".joblib", ".sav"}]
    for p in files:  # a pickle starts with the PROTO opcode 0x80
        assert not p.read_bytes()[:1] == b"\x80", p


@pytest.mark.parametrize("key", KEYS)
def test_missing_class_still_gives_three_columns(key, data):
    X, y, Xv, yv, t0, t1 = data
    keep = y != 0
    model = _fit(key, X[keep], y[keep], t0[keep], t1[keep], eval_set=(Xv, yv))
    proba = model.predict_proba(Xv)
    assert proba.shape == (N_VAL, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert list(model.train_classes_) == [-1, 1]
    assert proba[:, 1].max() < 0.5  # the unseen "flat" class is never the likely one


@pytest.mark.parametrize("key", KEYS)
def test_bad_input_is_a_clear_error(key, data):
    X, y, Xv, yv, t0, t1 = data
    cls = get_model_class(key)
    with pytest.raises(NotFittedError):
        _new(key).predict_proba(Xv)
    with pytest.raises(NotFittedError):
        _new(key).save("never-written")
    with pytest.raises(ModelInputError, match="2-D"):
        _new(key).fit(X[:, 0], y, t0=t0, t1=t1)
    with pytest.raises(ModelInputError, match="-1"):
        _new(key).fit(X, np.where(y == 1, 2, y), t0=t0, t1=t1)
    with pytest.raises(ModelInputError, match="labels but X has"):
        _new(key).fit(X, y[:-1], t0=t0, t1=t1)
    with pytest.raises(ModelInputError, match="single class"):
        _new(key).fit(X, np.ones(N, dtype=int), t0=t0, t1=t1)
    X_inf = X.copy()
    X_inf[7, 2] = np.inf
    with pytest.raises(ModelInputError, match="infinite"):
        _new(key).fit(X_inf, y, t0=t0, t1=t1)
    if not cls.allows_nan:
        X_nan = X.copy()
        X_nan[5, 1] = np.nan
        with pytest.raises(ModelInputError, match="NaN"):
            _new(key).fit(X_nan, y, t0=t0, t1=t1)
    model = _fit(key, X, y, t0, t1)
    with pytest.raises(ModelInputError, match="features"):
        model.predict_proba(Xv[:, :-1])
    with pytest.raises(ModelInputError, match="eval_set"):
        _new(key).fit(X, y, eval_set=(Xv[:, :-1], yv), t0=t0, t1=t1)
    with pytest.raises(FactoryError):
        _new(key).fit(X, y, sample_weight=-np.ones(N), t0=t0, t1=t1)


@pytest.mark.parametrize("key", KEYS)
def test_dataframe_columns_are_checked_at_predict(key, data):
    import pandas as pd

    X, y, Xv, yv, t0, t1 = data
    cols = [f"c{i}" for i in range(F)]
    model = _fit(key, pd.DataFrame(X, columns=cols), y, t0, t1)
    swapped = pd.DataFrame(Xv, columns=cols)[cols[::-1]]
    with pytest.raises(ModelInputError, match="columns differ"):
        model.predict_proba(swapped)
