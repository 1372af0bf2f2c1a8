"""The value of every feature at bar t must not depend on any bar after t.

Two independent checks run over ALL columns: (1) replace everything after t with a different market (other
prices, ranges, volumes, and in one variant other timestamps) and (2) drop everything after t; the features at
rows <= t must not move (float64 mode, 1e-9). The checker is itself tested against a deliberately
non-causal feature, so a check that could never fail cannot pass unnoticed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.features import FeatureConfig, compute_features, warmup_bars
from factory.features.higher_tf import names as htf_names
from feature_bars import random_walk_bars, replace_future

ATOL = 1e-9


def causal_violations(features, bars: pd.DataFrame, cuts, seed: int = 99, shift_time: bool = False) -> dict:
    """{column: (cut, max |difference|)} of columns whose rows <= cut change when the bars after cut change.

    ``features(bars) -> DataFrame`` is the function under test. Also compares against the features of the
    truncated bars ``bars[:cut + 1]``. NaN must stay NaN at the same places.
    """
    base = features(bars)
    bad: dict = {}
    for i, t in enumerate(cuts):
        variants = [
            features(replace_future(bars, t, seed=seed + i, shift_time=shift_time)),
            features(bars.iloc[: t + 1].copy()),
        ]
        for other in variants:
            a = base.iloc[: t + 1].to_numpy(dtype=np.float64)
            b = other.iloc[: t + 1].to_numpy(dtype=np.float64)
            nan_diff = np.isnan(a) != np.isnan(b)
            with np.errstate(invalid="ignore"):
                diff = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b))
            diff[nan_diff] = np.inf
            worst = diff.max(axis=0)
            for j in np.flatnonzero(worst > ATOL):
                col = base.columns[j]
                bad.setdefault(col, (t, float(worst[j])))
    return bad


def _cuts(bars: pd.DataFrame, warm: int) -> list[int]:
    ts = pd.DatetimeIndex(bars["timestamp"])
    hour_ends = np.flatnonzero(ts.floor("60min")[1:] != ts.floor("60min")[:-1])
    end_of_hour = int(hour_ends[hour_ends > warm + 50][0])  # last bar of an hourly bucket
    halt = np.flatnonzero(np.diff(ts.asi8) > 60e9)
    before_halt = int(halt[halt > warm][0]) if (halt > warm).any() else len(bars) // 2
    return [7, warm - 1, warm, warm + 33, end_of_hour, before_halt, len(bars) - 2]


def test_every_feature_ignores_the_future(bars, cfg64):
    warm = warmup_bars(cfg64)
    bad = causal_violations(lambda b: compute_features(b, cfg64), bars, _cuts(bars, warm))
    assert bad == {}, f"non-causal features: {bad}"


def test_every_feature_ignores_future_timestamps(bars, cfg64):
    warm = warmup_bars(cfg64)
    cuts = [warm + 5, warm + 400]
    bad = causal_violations(lambda b: compute_features(b, cfg64), bars, cuts, seed=7, shift_time=True)
    assert bad == {}, f"features depend on later timestamps: {bad}"


def test_causality_with_short_windows():
    # Different windows exercise other code paths (rebuild points of the running sums, HTF widths).
    cfg = FeatureConfig(
        dtype="float64", windows=(3, 7, 50), band_windows=(5, 31), stat_windows=(9,), hurst_lags=(2, 5),
        higher_timeframes=("5min", "30min"), htf_window=6, htf_period=5, rsi_periods=(3,), macd=((3, 8, 4),),
    )
    b = random_walk_bars(1200, seed=3)
    bad = causal_violations(lambda x: compute_features(x, cfg), b, [4, 100, 333, 700, 1198])
    assert bad == {}, f"non-causal features: {bad}"


def test_checker_catches_a_centred_window(bars):
    """The helper must flag a feature that peeks 2 bars ahead, and only that one."""

    def leaky(b: pd.DataFrame) -> pd.DataFrame:
        c = b["close"]
        return pd.DataFrame({
            "trailing_mean": c.rolling(5).mean(),
            "centred_mean": c.rolling(5, center=True).mean(),
            "next_hour_close": c.groupby(pd.DatetimeIndex(b["timestamp"]).floor("60min")).transform("last"),
        })

    bad = causal_violations(leaky, bars, [500, 1500])
    assert set(bad) == {"centred_mean", "next_hour_close"}


def test_higher_timeframe_features_ignore_the_current_bucket(bars, cfg64):
    """HTF features at every bar of a bucket use completed buckets only: rewriting the whole current bucket
    (bars already seen and bars still to come) changes none of them, and they are constant in the bucket."""
    warm = warmup_bars(cfg64)
    base = compute_features(bars, cfg64)
    ts = pd.DatetimeIndex(bars["timestamp"])
    for tf in cfg64.higher_timeframes:
        cols = [c for c in htf_names(cfg64) if c.startswith(f"htf_{tf}_")]
        key = ts.floor(tf)
        for t in (warm + 10, warm + 777, len(bars) - 130):
            while not (key[t - 1] == key[t] == key[t + 1]):  # a bar strictly inside its bucket
                t += 1
            in_bucket = np.flatnonzero(key == key[t])
            start, end = int(in_bucket[0]), int(in_bucket[-1])
            changed = replace_future(bars, start - 1, seed=t)
            other = compute_features(changed, cfg64)
            a = base.loc[start:end, cols].to_numpy()
            b = other.loc[start:end, cols].to_numpy()
            np.testing.assert_allclose(b, a, rtol=0, atol=ATOL, err_msg=f"{tf} bucket at row {t}")
            assert np.all(a == a[0]), f"{tf} features vary inside a bucket"
            # ... and the next bucket does see the rewritten one (the test has teeth).
            nxt = end + 1
            assert not np.allclose(base.loc[nxt, cols].to_numpy(), other.loc[nxt, cols].to_numpy())


def test_float32_and_float64_agree(bars, cfg64):
    x32 = compute_features(bars, FeatureConfig(dtype="float32"))
    x64 = compute_features(bars, cfg64)
    assert (x32.dtypes == np.float32).all() and (x64.dtypes == np.float64).all()
    np.testing.assert_allclose(x32.to_numpy(np.float64), x64.to_numpy(), rtol=1e-5, atol=1e-5)
