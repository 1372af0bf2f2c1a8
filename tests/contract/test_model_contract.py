"""The contract every registered model honours, checked for each key with its tiny test settings.

Each input kind gets toy data of its own shape: feature rows for tabular models, windows (a view over a 2-D
matrix) for window models, relative log-price contexts for price models. A model that needs a GPU is skipped
cleanly where there is none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory.errors import ConfigError, FactoryError
from factory.models import create_model, get_model_class, list_models, load_model
from factory.models.errors import ModelInputError, NotFittedError
from factory.models.registry import INPUT_KINDS
from factory.models.testing import make_spans, make_toy_contexts, make_toy_data, make_toy_windows
from factory.labels.barriers import BarrierWidths
from factory.models.views import ArrayContexts, ArrayWindows, PriceContextView, WindowView

N, N_VAL, F = 600, 200, 12
KEYS = list_models()


def _gpu_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.fixture(autouse=True)
def _skip_gpu_only(request):
    key = request.node.callspec.params.get("key") if hasattr(request.node, "callspec") else None
    if key and get_model_class(key).needs_gpu and not _gpu_available():
        pytest.skip(f"model '{key}' needs a GPU and none is available")


def _new(key: str):
    return create_model(key, **get_model_class(key).get_test_params())


def _toy(key: str, n: int, seed: int):
    kind = get_model_class(key).input_kind
    length = _new(key).window_length
    if kind == "window":
        return make_toy_windows(n, length, F, seed=seed)
    if kind == "price_window":
        return make_toy_contexts(n, length, seed=seed)
    return make_toy_data(n, F, seed=seed)


@pytest.fixture(scope="module")
def toy():
    cache = {}

    def get(key):
        kind = get_model_class(key).input_kind
        if (kind, key) not in cache:
            X, y = _toy(key, N, 0)
            Xv, yv = _toy(key, N_VAL, 1)
            t0, t1 = make_spans(N)
            cache[(kind, key)] = (X, y, Xv, yv, t0, t1)
        return cache[(kind, key)]

    return get


def _subset(X, idx):
    return X.subset(idx) if hasattr(X, "subset") else X[idx]


def _fit(key, X, y, t0, t1, eval_set=None, sample_weight=None):
    return _new(key).fit(X, y, sample_weight=sample_weight, eval_set=eval_set, t0=t0, t1=t1)


def test_registry_has_the_tabular_models_and_the_reference_ones():
    assert {"xgboost", "lightgbm", "logistic", "voting", "stacking"} <= set(KEYS)
    assert {"toy_window", "toy_price"} <= set(KEYS)  # registered by the test suite (tests/conftest.py)
    assert {get_model_class(k).input_kind for k in KEYS} == set(INPUT_KINDS)


@pytest.mark.parametrize("key", KEYS)
def test_tags_and_test_params(key):
    cls = get_model_class(key)
    assert cls.key == key and cls.family
    assert cls.input_kind in INPUT_KINDS
    assert isinstance(cls.is_production_safe, bool) and isinstance(cls.needs_gpu, bool)
    assert isinstance(cls.requirements, tuple)
    params = cls.get_test_params()
    assert isinstance(params, dict)
    model = cls(**params)
    assert not model.is_fitted
    # Construction stores settings only: no fitted attribute exists yet.
    assert not [a for a in vars(model) if a.endswith("_") and not a.startswith("_")]
    with pytest.raises(ConfigError, match="no_such_setting"):
        cls(**params, no_such_setting=1)
    # Window models read windows that end at their sample's bar, and pass the causality and truncation tests of
    # tests/packaging: every one is production-safe (a model that peeked past its bar would not be).
    if cls.input_kind == "window":
        assert cls.is_production_safe
    # The lookback is a property of the configured instance: the extra history one sample reads.
    assert model.lookback == model.window_length - 1 >= 0
    if cls.input_kind == "tabular":
        assert model.lookback == 0
    else:
        assert model.lookback > 0


@pytest.mark.parametrize("key", KEYS)
def test_fit_predict_and_proba_are_valid(key, toy):
    X, y, Xv, yv, t0, t1 = toy(key)
    model = _new(key)
    assert model.fit(X, y, eval_set=(Xv, yv, np.ones(N_VAL)), t0=t0, t1=t1) is model
    proba = model.predict_proba(Xv)
    assert proba.shape == (N_VAL, 3) and proba.dtype == np.float64
    assert np.isfinite(proba).all() and (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    pred = model.predict(Xv)
    assert set(np.unique(pred)) <= {-1, 0, 1}
    np.testing.assert_array_equal(pred, np.array([-1, 0, 1])[proba.argmax(axis=1)])
    # There is signal in the toy data: better than the 1/3 of guessing (a zero-shot model is not trained on the
    # labels, and the tests' random backbones know nothing).
    if not get_model_class(key).zero_shot:
        assert (pred == yv).mean() > 0.4
    assert list(model.classes_) == [-1, 0, 1]


@pytest.mark.parametrize("key", KEYS)
def test_seeded_runs_are_identical(key, toy):
    X, y, Xv, yv, t0, t1 = toy(key)
    w = np.random.default_rng(3).uniform(0.5, 1.5, N)
    a = _fit(key, X, y, t0, t1, eval_set=(Xv, yv), sample_weight=w).predict_proba(Xv)
    b = _fit(key, X, y, t0, t1, eval_set=(Xv, yv), sample_weight=w).predict_proba(Xv)
    np.testing.assert_array_equal(a, b)


def is_pickle(data: bytes) -> bool:
    """A real pickle: the PROTO opcode, a protocol number, and a stream pickletools reads to its STOP.

    A first byte of 0x80 alone proves nothing (it also starts a safetensors header of 128 bytes).
    """
    import pickletools

    if len(data) < 3 or data[0] != 0x80 or not 2 <= data[1] <= 5:
        return False
    try:
        ops = list(pickletools.genops(data))
    except Exception:  # noqa: BLE001 - anything unreadable is not a pickle
        return False
    return bool(ops) and ops[-1][0].name == "STOP"


def test_the_pickle_check_tells_a_pickle_from_a_safetensors_header():
    import pickle
    import struct

    assert is_pickle(pickle.dumps({"a": 1}, protocol=4))
    header = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'.ljust(128)
    safetensors_like = struct.pack("<Q", 128) + header + b"\x00" * 4  # first byte 0x80
    assert safetensors_like[0] == 0x80 and not is_pickle(safetensors_like)


@pytest.mark.parametrize("key", KEYS)
def test_save_load_round_trip_without_pickle(key, toy, tmp_path):
    X, y, Xv, yv, t0, t1 = toy(key)
    kind = get_model_class(key).input_kind
    cols = [f"c{i}" for i in range(F)]
    if kind == "tabular":
        X, Xv = pd.DataFrame(X, columns=cols), pd.DataFrame(Xv, columns=cols)
    model = _new(key).fit(X, y, eval_set=(Xv, yv), t0=t0, t1=t1, input_lookback=3)
    folder = model.save(tmp_path / "m")
    loaded = load_model(folder)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert loaded.feature_names_in_ == model.feature_names_in_
    assert loaded.input_lookback_ == 3 and loaded.lookback == model.lookback
    if kind == "tabular":
        assert loaded.feature_names_in_ == cols
    np.testing.assert_array_equal(loaded.predict_proba(Xv), model.predict_proba(Xv))
    np.testing.assert_array_equal(get_model_class(key).load(folder).predict(Xv), model.predict(Xv))
    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    assert files and not [p for p in files if p.suffix in {".pkl", ".pickle", ".joblib", ".sav"}]
    for p in files:
        assert not is_pickle(p.read_bytes()), p


@pytest.mark.parametrize("key", KEYS)
def test_missing_class_still_gives_three_columns(key, toy):
    X, y, Xv, yv, t0, t1 = toy(key)
    keep = np.flatnonzero(y != 0)
    model = _fit(key, _subset(X, keep), y[keep], t0[keep], t1[keep], eval_set=(Xv, yv))
    proba = model.predict_proba(Xv)
    assert proba.shape == (N_VAL, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert list(model.train_classes_) == [-1, 1]
    if not get_model_class(key).zero_shot:  # a zero-shot model's output does not depend on the labels
        assert proba[:, 1].max() < 0.5  # the unseen "flat" class is never the likely one


def _with_value(X, row: int, col: int, value: float):
    """A copy of the toy input with one value replaced (where a sample reads it)."""
    if isinstance(X, WindowView) and not isinstance(X, ArrayWindows):
        m = X.matrix.copy()
        m[X.rows[row], col] = value
        return WindowView(m, X.rows, X.length, X.feature_names)
    if isinstance(X, PriceContextView):
        arr = X.batch().copy()
        arr[row, col] = value
        return arr
    arr = np.array(X, dtype=float)
    arr[row, col] = value
    return arr


@pytest.mark.parametrize("key", KEYS)
def test_bad_input_is_a_clear_error(key, toy):
    X, y, Xv, yv, t0, t1 = toy(key)
    cls = get_model_class(key)
    kind = cls.input_kind
    with pytest.raises(NotFittedError):
        _new(key).predict_proba(Xv)
    with pytest.raises(NotFittedError):
        _new(key).save("never-written")
    with pytest.raises(ModelInputError, match="-1"):
        _new(key).fit(X, np.where(y == 1, 2, y), t0=t0, t1=t1)
    with pytest.raises(ModelInputError, match="labels but X has"):
        _new(key).fit(X, y[:-1], t0=t0, t1=t1)
    with pytest.raises(ModelInputError, match="single class"):
        _new(key).fit(X, np.ones(N, dtype=int), t0=t0, t1=t1)
    with pytest.raises(ModelInputError, match="infinite"):
        _new(key).fit(_with_value(X, 7, 2, np.inf), y, t0=t0, t1=t1)
    if not cls.allows_nan:
        with pytest.raises(ModelInputError, match="NaN"):
            _new(key).fit(_with_value(X, 5, 1, np.nan), y, t0=t0, t1=t1)
    with pytest.raises(FactoryError):
        _new(key).fit(X, y, sample_weight=-np.ones(N), t0=t0, t1=t1)
    model = _fit(key, X, y, t0, t1)
    if kind == "tabular":
        with pytest.raises(ModelInputError, match="2-D"):
            _new(key).fit(X[:, 0], y, t0=t0, t1=t1)
        with pytest.raises(ModelInputError, match="features"):
            model.predict_proba(Xv[:, :-1])
        with pytest.raises(ModelInputError, match="eval_set"):
            _new(key).fit(X, y, eval_set=(Xv[:, :-1], yv), t0=t0, t1=t1)
    elif kind == "window":
        windows = X.batch()
        with pytest.raises(ModelInputError, match="3-D"):
            _new(key).fit(windows[:, -1, :], y, t0=t0, t1=t1)
        with pytest.raises(ModelInputError, match="channels"):
            model.predict_proba(Xv.batch()[:, :, :-1])
        with pytest.raises(ModelInputError, match="too short"):
            model.predict_proba(Xv.batch()[:, 1:, :])
        with pytest.raises(ModelInputError, match="eval_set X .*too short"):
            _new(key).fit(X, y, eval_set=(Xv.batch()[:, 1:, :], yv), t0=t0, t1=t1)
        with pytest.raises(ModelInputError, match="first valid input row"):
            WindowView(X.matrix, X.rows, X.length, first_valid=int(X.rows.min()) - X.length + 2)
        np.testing.assert_array_equal(model.predict_proba(Xv.batch()), model.predict_proba(Xv))
    else:
        with pytest.raises(ModelInputError, match="2-D"):
            _new(key).fit(X.batch()[:, 0], y, t0=t0, t1=t1)
        with pytest.raises(ModelInputError, match="too short"):
            model.predict_proba(Xv.batch()[:, 1:])
        array = ArrayContexts(Xv.batch(), BarrierWidths(*Xv.barriers_at(), Xv.horizon)) if cls.reads_barriers \
            else Xv.batch()
        np.testing.assert_array_equal(model.predict_proba(array), model.predict_proba(Xv))


@pytest.mark.parametrize("key", [k for k in KEYS if get_model_class(k).input_kind == "tabular"])
def test_dataframe_columns_are_checked_at_predict(key, toy):
    X, y, Xv, yv, t0, t1 = toy(key)
    cols = [f"c{i}" for i in range(F)]
    model = _fit(key, pd.DataFrame(X, columns=cols), y, t0, t1)
    swapped = pd.DataFrame(Xv, columns=cols)[cols[::-1]]
    with pytest.raises(ModelInputError, match="columns differ"):
        model.predict_proba(swapped)


@pytest.mark.parametrize("key", [k for k in KEYS if get_model_class(k).input_kind == "window"])
def test_windows_are_gathered_per_batch(key, toy):
    """A window model never needs the (n, L, F) tensor: its view gathers any batch by index, and predictions
    from the view equal those from the materialised windows."""
    X, y, Xv, yv, t0, t1 = toy(key)
    assert isinstance(X, WindowView) and X.matrix.shape == (N + X.length - 1, F)  # 2-D source, no copy per window
    idx = np.array([0, 5, 77])
    np.testing.assert_array_equal(X.batch(idx), np.stack([X.matrix[r - X.length + 1: r + 1] for r in X.rows[idx]]))
