"""The feature set as a whole: size, names, dtypes, warm-up, determinism, input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.errors import DataValidationError, FactoryError
from factory.features import FeatureConfig, compute_features, feature_families, feature_names, warmup_bars
from feature_bars import random_walk_bars


def test_at_least_150_unique_features():
    names = feature_names()
    assert len(names) >= 150
    assert len(set(names)) == len(names)
    fams = feature_families()
    assert sum(len(v) for v in fams.values()) == len(names)
    assert len(fams) >= 10 and all(len(v) >= 2 for v in fams.values())


def test_output_layout(bars):
    x = compute_features(bars)
    assert list(x.columns) == feature_names()
    assert x.index.equals(bars.index)
    assert (x.dtypes == np.float64).all()
    # no hidden copy: one float64 block
    assert x.to_numpy().dtype == np.float64


def test_index_is_preserved():
    b = random_walk_bars(300, seed=2)
    b.index = pd.RangeIndex(1000, 1300)
    x = compute_features(b)
    assert x.index.equals(b.index)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finite_after_warmup(seed):
    """From warmup_bars() on, every feature is finite, on bars with halts, weekends, flat bars, unchanged
    closes and zero volume (the generator produces all of them)."""
    cfg = FeatureConfig(dtype="float64")
    warm = warmup_bars(cfg)
    b = random_walk_bars(warm + 2500, seed=seed)
    x = compute_features(b, cfg)
    tail = x.iloc[warm:]
    bad = tail.columns[~np.isfinite(tail.to_numpy()).all(axis=0)]
    assert list(bad) == []
    # the warm-up is not absurdly long: some feature is still NaN shortly before it
    assert x.iloc[: warm - 60].isna().any().any()


def test_finite_after_warmup_on_a_flat_market():
    """Hours without a single price change (an illiquid night) give neutral values, not NaN or inf."""
    cfg = FeatureConfig(dtype="float64")
    warm = warmup_bars(cfg)
    b = random_walk_bars(warm + 1500, seed=4)
    flat = slice(warm + 200, warm + 900)
    px = b.loc[warm + 199, "close"]
    for col in ("open", "high", "low", "close"):
        b.loc[flat, col] = px
    b.loc[flat, "volume"] = 0.0
    x = compute_features(b, cfg)
    tail = x.iloc[warm:]
    bad = tail.columns[~np.isfinite(tail.to_numpy()).all(axis=0)]
    assert list(bad) == []
    inside = x.loc[warm + 800]
    assert inside["vol_cc_240"] == 0.0 and inside["bb_width_20"] == 0.0 and inside["donchian_width_60"] == 0.0
    assert inside["bb_pctb_20"] == 0.5 and inside["donchian_pos_60"] == 0.5 and inside["stoch_k_14"] == 50.0
    assert inside["willr_14"] == -50.0 and inside["eff_ratio_60"] == 0.0 and inside["linreg_r2_60"] == 0.0


def test_warmup_with_short_windows():
    cfg = FeatureConfig(dtype="float64", windows=(5, 30), band_windows=(10,), stat_windows=(10,),
                        hurst_lags=(2,), higher_timeframes=("10min",), htf_window=5, htf_period=5,
                        atr_periods=(5, 14), session_length="2h")
    warm = warmup_bars(cfg)
    assert warm < warmup_bars() / 2
    x = compute_features(random_walk_bars(warm + 500, seed=8), cfg)
    assert np.isfinite(x.iloc[warm:].to_numpy()).all()
    assert len(x.columns) == len(feature_names(cfg))


def test_deterministic(bars):
    a = compute_features(bars)
    b = compute_features(bars.copy())
    pd.testing.assert_frame_equal(a, b)


def test_scale_free(bars, cfg64):
    """Price-level and volume-unit free: multiplying all prices by 3 and volumes by 7 changes only the
    features that are explicitly levels (fracdiff keeps memory of the log level)."""
    b = bars.copy()
    b[["open", "high", "low", "close"]] *= 3.0
    b["volume"] *= 7.0
    x = compute_features(bars, cfg64)
    y = compute_features(b, cfg64)
    warm = warmup_bars(cfg64)
    level = {"fracdiff"}
    # ln(1 + v) is unit-free only approximately (the 1 does not scale)
    log1p_volume = {c for c in x.columns if c.startswith(("volume_z", "volume_ratio", "vol_ret_corr"))}
    log1p_volume |= {c for c in x.columns if c.startswith("htf_") and c.endswith("volume_z")}
    for col in x.columns:
        if col in level or col in log1p_volume:
            continue
        np.testing.assert_allclose(y[col].iloc[warm:], x[col].iloc[warm:], rtol=1e-6, atol=1e-7, err_msg=col)


def test_empty_bars():
    b = random_walk_bars(10, seed=1).iloc[:0]
    x = compute_features(b)
    assert x.shape == (0, len(feature_names()))


def test_missing_column_is_a_clear_error(bars):
    with pytest.raises(DataValidationError, match="volume"):
        compute_features(bars.drop(columns=["volume"]))


def test_naive_timestamps_rejected(bars):
    b = bars.copy()
    b["timestamp"] = b["timestamp"].dt.tz_localize(None)
    with pytest.raises(FactoryError, match="timezone"):
        compute_features(b)


def test_non_numeric_rejected(bars):
    b = bars.copy()
    b["close"] = b["close"].astype(str)
    with pytest.raises(FactoryError, match="close"):
        compute_features(b)


def test_config_rejects_bad_values():
    from factory.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown key"):
        FeatureConfig.from_dict({"windowz": [5]})
    with pytest.raises(ConfigError):
        FeatureConfig.from_dict({"windows": [1, 5]})
    with pytest.raises(ConfigError):
        FeatureConfig.from_dict({"higher_timeframes": ["1min"]})  # not coarser than the bars
    with pytest.raises(ConfigError):
        FeatureConfig.from_dict({"higher_timeframes": ["1M"]})  # a month has no fixed length
    cfg = FeatureConfig.from_dict({"windows": [60, 10, 240]})
    assert cfg.windows == (10, 60, 240)


@pytest.mark.parametrize("n", [1, 2, 50, 300])
def test_short_inputs(n):
    """Fewer bars than the windows: no error, NaN where no window is full."""
    b = random_walk_bars(n, seed=6)
    x = compute_features(b, {"dtype": "float64"})
    assert x.shape == (n, len(feature_names()))
    assert x["ret_log_240"].iloc[:240].isna().all()
    if n > 1:
        assert np.isfinite(x["ret_log_1"].iloc[1:]).all()


def test_no_higher_timeframes_is_a_valid_config():
    from factory.data.synth import generate_bars
    from factory.features import compute_features, feature_names, warmup_bars
    from factory.features.config import FeatureConfig

    cfg = FeatureConfig(higher_timeframes=())
    names = feature_names(cfg)
    assert not [n for n in names if n.startswith("htf_")]
    from factory.features import family_lookbacks

    assert family_lookbacks(cfg)["higher_tf"] == 0 < family_lookbacks(FeatureConfig())["higher_tf"]
    out = compute_features(generate_bars(3000, seed=1), cfg)
    assert list(out.columns) == names
    assert np.isfinite(out.to_numpy()[warmup_bars(cfg):]).all()
