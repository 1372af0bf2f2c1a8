"""FeaturePipeline: scaling learnt from training rows only, plain-data persistence, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from factory.errors import DataValidationError, FactoryError
from factory.features import FeatureConfig, FeaturePipeline, NotFittedError, feature_names, lookback_bars
from feature_bars import replace_future

TRAIN_END = 3000


@pytest.fixture(scope="module")
def fitted(bars):
    return FeaturePipeline().fit(bars, train_end=TRAIN_END)


def test_fitted_attributes(fitted, bars):
    warm = lookback_bars()
    assert fitted.feature_names_ == feature_names()
    assert fitted.lookback_ == warm
    assert fitted.n_train_rows_ == TRAIN_END - warm
    assert fitted.center_.shape == fitted.scale_.shape == (len(feature_names()),)
    assert np.isfinite(fitted.center_).all() and (fitted.scale_ > 0).all()


def test_scaling_uses_training_rows_only(fitted, bars):
    changed = replace_future(bars, TRAIN_END - 1, seed=5, shift_time=True)
    other = FeaturePipeline().fit(changed, train_end=TRAIN_END)
    np.testing.assert_array_equal(other.center_, fitted.center_)
    np.testing.assert_array_equal(other.scale_, fitted.scale_)
    a = fitted.transform(bars).iloc[:TRAIN_END]
    b = other.transform(changed).iloc[:TRAIN_END]
    pd.testing.assert_frame_equal(a, b)


def test_a_training_row_does_move_the_scaling(fitted, bars):
    changed = bars.copy()
    rows = slice(lookback_bars() + 100, lookback_bars() + 400)
    changed.loc[rows, "volume"] *= 9.0
    changed.loc[rows, ["open", "high", "low", "close"]] *= 1.02
    other = FeaturePipeline().fit(changed, train_end=TRAIN_END)
    assert not np.array_equal(other.center_, fitted.center_)
    assert not np.array_equal(other.scale_, fitted.scale_)


def test_robust_statistics_by_hand(fitted, bars):
    from factory.features import compute_features

    raw = compute_features(bars.iloc[:TRAIN_END]).iloc[lookback_bars():]
    col = raw["rsi_14"].to_numpy(np.float64)
    j = fitted.feature_names_.index("rsi_14")
    assert fitted.center_[j] == pytest.approx(np.median(col))
    assert fitted.scale_[j] == pytest.approx(np.percentile(col, 75) - np.percentile(col, 25))


def test_transform_scales_clips_and_keeps_warmup_nan(fitted, bars):
    x = fitted.transform(bars)
    assert (x.dtypes == np.float64).all()
    assert list(x.columns) == feature_names()
    warm = lookback_bars()
    assert x.iloc[:warm].isna().any().any()
    tail = x.iloc[warm:].to_numpy()
    assert np.isfinite(tail).all()
    assert np.abs(tail).max() <= 10.0
    # training rows are centred: medians near 0 for the robust scaling
    med = np.median(x.iloc[warm:TRAIN_END].to_numpy(np.float64), axis=0)
    assert np.abs(med).max() < 1e-3


def test_standard_scaling_and_none(bars):
    std = FeaturePipeline(FeatureConfig(scaling="standard", clip=3.0)).fit(bars, train_end=TRAIN_END)
    x = std.transform(bars).iloc[lookback_bars():TRAIN_END].to_numpy(np.float64)
    assert np.abs(x).max() <= 3.0
    none = FeaturePipeline({"scaling": "none"}).fit(bars, train_end=TRAIN_END)
    assert (none.center_ == 0).all() and (none.scale_ == 1).all()


def test_train_end_as_timestamp(fitted, bars):
    ts = bars["timestamp"].iloc[TRAIN_END]
    other = FeaturePipeline().fit(bars, train_end=ts)
    np.testing.assert_array_equal(other.center_, fitted.center_)


def test_save_load_round_trip(fitted, bars, tmp_path):
    fitted.save(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["feature_pipeline.json", "feature_scaling.npz"]
    meta = json.loads((tmp_path / "feature_pipeline.json").read_text())
    assert meta["feature_names"] == feature_names() and meta["lookback"] == lookback_bars()
    assert "pickle" not in (tmp_path / "feature_pipeline.json").read_text().lower()
    with np.load(tmp_path / "feature_scaling.npz", allow_pickle=False) as npz:  # fails on object arrays
        assert set(npz.files) == {"center", "scale"}
        assert npz["center"].dtype == np.float64
    loaded = FeaturePipeline.load(tmp_path)
    pd.testing.assert_frame_equal(loaded.transform(bars), fitted.transform(bars))


def test_state_dict_round_trip(fitted, bars):
    state = json.loads(json.dumps(fitted.get_state()))  # survives JSON
    again = FeaturePipeline.from_state(state)
    pd.testing.assert_frame_equal(again.transform(bars), fitted.transform(bars))
    np.testing.assert_array_equal(again.scale_, fitted.scale_)


def test_load_rejects_mismatched_state(fitted, tmp_path):
    state = fitted.get_state()
    state["feature_names"] = state["feature_names"][::-1]
    with pytest.raises(FactoryError, match="feature names"):
        FeaturePipeline.from_state(state)
    with pytest.raises(FactoryError, match="no saved feature pipeline"):
        FeaturePipeline.load(tmp_path / "missing")


def test_transform_before_fit(bars):
    with pytest.raises(NotFittedError, match="fit"):
        FeaturePipeline().transform(bars)
    assert issubclass(NotFittedError, FactoryError) and issubclass(NotFittedError, ValueError)


def test_transform_wrong_columns(fitted, bars):
    with pytest.raises(DataValidationError, match="high"):
        fitted.transform(bars.drop(columns=["high"]))
    with pytest.raises(FactoryError, match="DataFrame"):
        fitted.transform(bars.to_numpy())


def test_too_few_training_rows(bars):
    with pytest.raises(FactoryError, match="lookback"):
        FeaturePipeline().fit(bars, train_end=lookback_bars())


def test_constructor_only_stores(bars):
    cfg = FeatureConfig(clip=4.0)
    p = FeaturePipeline(cfg)
    assert p.config is cfg and not hasattr(p, "center_")
    assert p.lookback_bars() == lookback_bars(cfg)
