"""Synthetic bars: calendar, tick grid, OHLC, determinism, regimes and seasonality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.data.default import DEFAULT_N_BARS, DEFAULT_SEED, default_bars
from factory.data.io import read_bars
from factory.data.sessions import get_calendar
from factory.data.synth import REGIME_NAMES, generate_bars, synth_to_file
from factory.data.validation import validate_bars
from factory.errors import ConfigError

CAL = get_calendar("cme_globex_equity")
N = 60_000


@pytest.fixture(scope="module")
def synth():
    return generate_bars(N, seed=1, return_regimes=True)


def test_passes_validation_with_calendar(synth):
    bars, _ = synth
    assert validate_bars(bars, calendar=CAL, min_bars=N) == []
    assert list(bars.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert str(bars["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_only_open_minutes_with_halts_and_weekends(synth):
    bars, _ = synth
    ts = bars["timestamp"]
    assert ts.iloc[0] == pd.Timestamp("2024-01-07 23:00", tz="UTC")  # Sunday 17:00 Chicago
    assert CAL.is_open(ts).all()
    step = ts.diff().dropna().value_counts()
    assert set(step.index) == {pd.Timedelta("1min"), pd.Timedelta("61min"), pd.Timedelta("49h 1min")}
    # The weekend gap follows Friday 15:59 Chicago.
    friday = ts[ts.diff() == pd.Timedelta("49h 1min")].index[0] - 1
    assert ts.iloc[friday].tz_convert("America/Chicago").strftime("%a %H:%M") == "Fri 15:59"
    # Every session boundary is a halt or a weekend, and there is no other gap.
    sessions = CAL.session_id(ts).nunique()
    assert step[pd.Timedelta("61min")] + step[pd.Timedelta("49h 1min")] == sessions - 1


def test_prices_on_tick_grid_and_consistent(synth):
    bars, _ = synth
    for col in ("open", "high", "low", "close"):
        ticks = bars[col].to_numpy() / 0.25
        np.testing.assert_array_equal(ticks, np.round(ticks))
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    vol = bars["volume"].to_numpy()
    assert (vol >= 0).all() and (vol == np.round(vol)).all()
    assert 3000 < bars["close"].min() and bars["close"].max() < 6000
    assert bars["close"].iloc[0] == pytest.approx(4500, abs=10)


def test_mgc_level_and_grid():
    bars = generate_bars(3000, seed=2, contract="MGC")
    ticks = bars["close"].to_numpy() / 0.1
    np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-9)
    assert bars["close"].iloc[0] == pytest.approx(2000, abs=5)
    assert bars["close"].astype(str).str.len().max() <= len("2000.0") + 1  # no float noise like 2000.3000000000002


def test_deterministic_bytes(tmp_path):
    a = synth_to_file(tmp_path / "a.csv", 5000, seed=3).read_bytes()
    b = synth_to_file(tmp_path / "b.csv", 5000, seed=3).read_bytes()
    c = synth_to_file(tmp_path / "c.csv", 5000, seed=4).read_bytes()
    assert a == b and a != c
    pd.testing.assert_frame_equal(read_bars(tmp_path / "a.csv"), generate_bars(5000, seed=3))


def test_longer_series_extends_shorter():
    long, regimes = generate_bars(8000, seed=9, return_regimes=True)
    short, short_regimes = generate_bars(3000, seed=9, return_regimes=True)
    pd.testing.assert_frame_equal(long.iloc[:3000], short)
    np.testing.assert_array_equal(regimes[:3000], short_regimes)


def test_regimes_persist(synth):
    _, regimes = synth
    assert regimes.shape == (N,) and set(np.unique(regimes)) <= {0, 1, 2, 3}
    assert len(REGIME_NAMES) == 4
    bounds = np.flatnonzero(np.r_[True, regimes[1:] != regimes[:-1], True])
    lengths = np.diff(bounds)[:-1]  # the last episode is cut by the end of the series
    assert lengths.min() >= 200
    assert np.median(lengths) >= 400


def test_regimes_differ_in_volatility_and_autocorrelation():
    bars, regimes = generate_bars(300_000, seed=5, return_regimes=True)
    ret = np.diff(np.log(bars["close"].to_numpy()))
    reg = regimes[1:]
    same = reg[1:] == reg[:-1]
    vol, ac = {}, {}
    for k in range(4):
        m = reg == k
        assert m.sum() > 5_000, f"regime {k} barely visited"
        vol[k] = ret[m].std()
        pair = same & (reg[1:] == k)
        ac[k] = np.corrcoef(ret[:-1][pair], ret[1:][pair])[0, 1]
    assert min(vol[2], vol[3]) > 2 * max(vol[0], vol[1])
    assert ac[0] > 0.03 and ac[2] > 0.03
    assert ac[1] < -0.05 and ac[3] < -0.05


def test_intraday_seasonality(synth):
    bars, _ = synth
    minute = CAL.minutes_since_open(bars["timestamp"])
    overnight = minute < 9 * 60                    # 17:00 - 02:00 Chicago
    cash = (minute >= 930) & (minute < 1320)       # 08:30 - 15:00 Chicago
    cash_open = (minute >= 930) & (minute < 960)   # first half hour of the cash session
    midday = (minute >= 1080) & (minute < 1170)
    vol = bars["volume"].to_numpy()
    assert vol[cash].mean() > 2.5 * vol[overnight].mean()
    assert vol[cash_open].mean() > 1.3 * vol[midday].mean()
    rng = (bars["high"] - bars["low"]).to_numpy()
    assert rng[cash].mean() > 1.5 * rng[overnight].mean()


def test_start_and_size_checks():
    with pytest.raises(ConfigError, match="time zone"):
        generate_bars(10, start="2024-01-07 23:00:00")
    with pytest.raises(ConfigError, match="positive integer"):
        generate_bars(0)
    with pytest.raises(ConfigError, match="unknown contract"):
        generate_bars(10, contract="XYZ")
    # A start inside the weekend moves to the next open minute.
    saturday = generate_bars(3, start="2024-01-13 12:00:00+00:00")
    assert saturday["timestamp"].iloc[0] == pd.Timestamp("2024-01-14 23:00", tz="UTC")


def test_default_bars_are_cached_copies():
    first = default_bars()
    assert len(first) == DEFAULT_N_BARS == 100_000 and DEFAULT_SEED == 7
    first.loc[0, "close"] = -1.0
    second = default_bars()
    assert second.loc[0, "close"] != -1.0
    pd.testing.assert_frame_equal(second.iloc[:1000], generate_bars(1000, seed=DEFAULT_SEED))


def test_planted_and_null_files_share_their_events(tmp_path):
    """The known-answer profile and its null twin: the same visible events, a drift only in the planted one."""
    from factory.data.synth import KNOWN_ANSWER, plant_edge

    base = generate_bars(6000, seed=3)
    planted = read_bars(synth_to_file(tmp_path / "p.csv", 6000, seed=3, edge="planted"))
    null = read_bars(synth_to_file(tmp_path / "n.csv", 6000, seed=3, edge="null"))
    _, events = plant_edge(base, seed=3, **KNOWN_ANSWER)
    assert len(events) > 10
    rows, d = events["row"].to_numpy(), events["direction"].to_numpy()
    for bars in (planted, null):  # the events are visible in both: 8x volume, a close at the bar's extreme
        np.testing.assert_allclose(bars["volume"].to_numpy()[rows], 8 * base["volume"].to_numpy()[rows])
        extreme = np.where(d > 0, bars["high"].to_numpy()[rows], bars["low"].to_numpy()[rows])
        np.testing.assert_array_equal(extreme, bars["close"].to_numpy()[rows])
    move = lambda b: b["close"].to_numpy()[rows + 10] - b["close"].to_numpy()[rows]  # noqa: E731
    # 48 ticks = 12 points in the event's direction over 10 bars in the planted file, nothing more in the null
    assert np.mean(d * (move(planted) - move(null))) == pytest.approx(12.0, abs=0.3)
    assert abs(np.mean(d * move(null))) < 2.0
    with pytest.raises(Exception, match="edge must be one of"):
        synth_to_file(tmp_path / "x.csv", 100, edge="strong")
