"""Bounded memory: every feature at bar t is a function of bars t - L .. t only, for the declared lookback L.

For every family and many bars t (inside a session, on the first bars after the daily halt and after a weekend,
at the end of higher-time-frame buckets, at the last bar of a full session), the family's columns computed from
bars[t - L_family .. t] alone equal those computed from the whole history, to 1e-9 (relative to the value's
size). And each declared lookback is exact: one bar fewer leaves some column of the family undefined (or
different) at some of those bars. The same check run on the previous definitions (EMA / Wilder recursions over
the whole history, sessions counted from the first bar of the request) fails, which the last test shows on a
deliberately unbounded feature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.features import FeatureConfig, compute_features, family_lookbacks, feature_families, lookback_bars
from factory.features.indicators import ema
from feature_bars import random_walk_bars

RTOL = 1e-9
N = 9000


@pytest.fixture(scope="module")
def long_bars():
    return random_walk_bars(N, seed=5)


@pytest.fixture(scope="module")
def full(long_bars):
    return compute_features(long_bars, FeatureConfig())


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| relative to max(1, |a|); NaN against a number counts as infinitely different."""
    with np.errstate(invalid="ignore"):
        d = np.abs(a - b) / np.maximum(1.0, np.abs(a))
    d[np.isnan(a) & np.isnan(b)] = 0.0
    d[np.isnan(a) != np.isnan(b)] = np.inf
    return d


def probe_rows(bars: pd.DataFrame, start: int) -> list[int]:
    """Bars where a lookback is most easily wrong: after halts and weekends, at bucket and session ends."""
    ts = pd.DatetimeIndex(bars["timestamp"])
    step = np.diff(ts.asi8)
    after_gap = np.flatnonzero(step > 60e9) + 1  # first bar of a session (after the halt or the weekend)
    hour_end = np.flatnonzero(ts.floor("60min")[1:] != ts.floor("60min")[:-1])
    session_end = after_gap - 1  # the last bar of a session: the whole session lies behind it
    rows = [start, start + 1]
    for group in (after_gap, after_gap + 1, after_gap + 59, hour_end, session_end):
        rows += [int(r) for r in group[group >= start][:3]]
    rows += [int(r) for r in np.random.default_rng(0).integers(start, len(bars), 6)]
    return sorted(set(r for r in rows if start <= r < len(bars)))


def family_mismatches(bars: pd.DataFrame, full: pd.DataFrame, cfg: FeatureConfig, rows: list[int], shorter: int = 0):
    """{family: worst difference} between the full history and bars[t - L_f + shorter .. t] at each t."""
    worst: dict[str, float] = {}
    families = feature_families(cfg)
    for fam, look in family_lookbacks(cfg).items():
        cols = families[fam]
        for t in rows:
            lo = t - look + shorter
            if lo < 0:
                continue
            cut = compute_features(bars.iloc[lo: t + 1].reset_index(drop=True), cfg)
            d = difference(full[cols].iloc[t].to_numpy(float), cut[cols].iloc[-1].to_numpy(float)).max()
            worst[fam] = max(worst.get(fam, 0.0), float(d))
    return worst


def test_the_default_lookback_is_practical():
    looks = family_lookbacks()
    assert lookback_bars() == max(looks.values()) <= 1500
    # the session-anchored features (a 23-hour Globex session of 1-minute bars) set it
    assert looks["calendar"] == looks["volume"] == 23 * 60 - 1


def test_every_family_needs_only_its_lookback(long_bars, full):
    rows = probe_rows(long_bars, lookback_bars())
    assert len(rows) >= 15
    worst = family_mismatches(long_bars, full, FeatureConfig(), rows)
    assert set(worst) == set(family_lookbacks())
    bad = {f: d for f, d in worst.items() if not d <= RTOL}
    assert bad == {}, f"families whose value at t depends on bars before their lookback: {bad}"


def test_every_declared_lookback_is_exact(long_bars, full):
    """One bar fewer than the declared lookback changes (or blanks) every family somewhere."""
    rows = probe_rows(long_bars, lookback_bars() + 1)
    worst = family_mismatches(long_bars, full, FeatureConfig(), rows, shorter=1)
    loose = sorted(f for f, d in worst.items() if not d > RTOL)
    assert loose == [], f"families whose lookback is longer than they need: {loose}"


def test_the_whole_set_at_the_shortest_request(long_bars, full):
    """The served case: exactly lookback + 1 bars, every column, many t (incl. session opens and halts)."""
    look = lookback_bars()
    for t in probe_rows(long_bars, look):
        cut = compute_features(long_bars.iloc[t - look: t + 1].reset_index(drop=True), FeatureConfig())
        d = difference(full.iloc[t].to_numpy(float), cut.iloc[-1].to_numpy(float))
        assert np.isfinite(cut.iloc[-1].to_numpy()).all()
        assert d.max() <= RTOL, f"t={t}: {full.columns[int(np.argmax(d))]} differs by {d.max():.3g}"


def test_short_windows_and_sessions():
    """Other settings move every lookback (and other rebuild points of the running sums)."""
    cfg = FeatureConfig(windows=(3, 7, 50), band_windows=(5, 31), stat_windows=(9,), hurst_lags=(2, 5),
                        higher_timeframes=("5min", "30min"), htf_window=6, htf_period=5, rsi_periods=(3,),
                        macd=((3, 8, 4),), atr_periods=(3, 9), ma_cross_pairs=((3, 9),), oscillator_periods=(4,),
                        cci_periods=(6,), roc_periods=(4,), session_length="3h", recursion_memory=3.0)
    bars = random_walk_bars(3000, seed=3)
    full = compute_features(bars, cfg)
    rows = probe_rows(bars, lookback_bars(cfg) + 1)
    assert max(family_mismatches(bars, full, cfg, rows).values()) <= RTOL
    assert min(family_mismatches(bars, full, cfg, rows, shorter=1).values()) > RTOL


def test_bars_closer_than_bar_freq_are_an_error_with_higher_time_frames(long_bars):
    from factory.errors import DataValidationError

    dense = long_bars.iloc[:2000].copy()
    dense.loc[1000:, "timestamp"] = dense["timestamp"].iloc[1000] + pd.to_timedelta(
        30 * np.arange(1000), unit="s")
    with pytest.raises(DataValidationError, match="bar_freq"):
        compute_features(dense, FeatureConfig())
    compute_features(dense, FeatureConfig(higher_timeframes=()))  # without them, spacing does not matter


def test_the_checker_catches_an_unbounded_recursion(long_bars):
    """Teeth: an EMA over the whole history (the previous definition) fails the same comparison, and its
    bounded version passes it."""
    c = long_bars["close"].to_numpy()

    def unbounded(x):
        out = np.empty_like(x)
        out[0] = x[0]
        for i in range(1, len(x)):
            out[i] = out[i - 1] + 2 / 241 * (x[i] - out[i - 1])
        return out

    look = lookback_bars()
    for fn, should_pass in ((unbounded, False), (lambda x: ema(x, 240), True)):
        diffs = [difference(fn(c)[t: t + 1], fn(c[t - look: t + 1])[-1:])[0] for t in (3000, 6000, 8999)]
        assert (max(diffs) <= RTOL) == should_pass
