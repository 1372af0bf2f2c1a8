"""Time, volume and dollar bars: hand-computed values, halts and byte-identical output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from data_helpers import make_bars
from hypothesis import given, settings
from hypothesis import strategies as st

from factory.data.io import write_bars
from factory.data.resample import dollar_bars, resample_bars, resample_ticks, volume_bars
from factory.data.sessions import get_calendar
from factory.data.synth import generate_bars
from factory.errors import ConfigError, DataValidationError

CAL = get_calendar("cme_globex_equity")


def ticks_frame(rows):
    ts, price, vol = zip(*rows)
    return pd.DataFrame({"timestamp": pd.to_datetime(list(ts), utc=True, format="ISO8601").as_unit("ns"),
                         "price": np.array(price, float), "volume": np.array(vol, float)})


def test_resample_bars_by_hand():
    bars = make_bars(7)  # 14:30 .. 14:36 UTC
    out = resample_bars(bars, "5min")
    assert [str(t) for t in out["timestamp"]] == ["2024-01-08 14:30:00+00:00", "2024-01-08 14:35:00+00:00"]
    first, second = bars.iloc[:5], bars.iloc[5:]
    expected = pd.DataFrame({
        "timestamp": out["timestamp"],
        "open": [first["open"].iloc[0], second["open"].iloc[0]],
        "high": [first["high"].max(), second["high"].max()],
        "low": [first["low"].min(), second["low"].min()],
        "close": [first["close"].iloc[-1], second["close"].iloc[-1]],
        "volume": [first["volume"].sum(), second["volume"].sum()],
    })
    pd.testing.assert_frame_equal(out, expected)
    assert out["volume"].tolist() == [600.0, 310.0]


def test_resample_ticks_by_hand_with_empty_interval():
    ticks = ticks_frame([
        ("2024-01-08 14:30:00.0", 10.0, 1), ("2024-01-08 14:30:20.0", 12.0, 2),
        ("2024-01-08 14:30:20.0", 9.0, 1), ("2024-01-08 14:30:59.9", 11.0, 3),
        # 14:31 has no trade: no bar
        ("2024-01-08 14:32:00.0", 11.5, 4),
    ])
    out = resample_ticks(ticks, "1min")
    assert [str(t) for t in out["timestamp"]] == ["2024-01-08 14:30:00+00:00", "2024-01-08 14:32:00+00:00"]
    assert out[["open", "high", "low", "close", "volume"]].values.tolist() == [
        [10.0, 12.0, 9.0, 11.0, 7.0], [11.5, 11.5, 11.5, 11.5, 4.0]]


def test_left_closed_boundary():
    ticks = ticks_frame([("2024-01-08 14:34:59.999", 1.0, 1), ("2024-01-08 14:35:00", 2.0, 1)])
    out = resample_ticks(ticks, "5min")
    assert out["close"].tolist() == [1.0, 2.0]
    assert out["timestamp"].dt.minute.tolist() == [30, 35]


def test_hourly_bars_align_to_session_open_and_never_span_the_halt():
    bars = generate_bars(5 * 1380, seed=3)  # one full week of sessions
    plain = resample_bars(bars, "2h")
    # Epoch-aligned 2-hour bins start at 16:00 Chicago (22:00 UTC) in winter: inside the halt.
    assert not CAL.is_open(plain["timestamp"]).all()
    out = resample_bars(bars, "2h", calendar=CAL)
    assert CAL.is_open(out["timestamp"]).all()
    assert (CAL.minutes_since_open(out["timestamp"]) % 120 == 0).all()
    # Every source bar lands in the output bar of its own session.
    label = out["timestamp"].to_numpy()[np.searchsorted(out["timestamp"].to_numpy(), bars["timestamp"].to_numpy(),
                                                        side="right") - 1]
    assert (CAL.session_id(label) == CAL.session_id(bars["timestamp"])).all()
    # 23 h per session in 2 h steps: 11 full bars plus a last one-hour bar (15:00-16:00 Chicago).
    assert len(out) == 5 * 12
    assert out["volume"].sum() == bars["volume"].sum()


def test_daily_bars_with_calendar_are_sessions():
    bars = generate_bars(3 * 1380, seed=4)
    out = resample_bars(bars, "1D", calendar=CAL)
    assert len(out) == 3
    assert [str(t) for t in out["timestamp"]] == ["2024-01-07 23:00:00+00:00", "2024-01-08 23:00:00+00:00",
                                                  "2024-01-09 23:00:00+00:00"]
    assert out["open"].iloc[1] == bars["open"].iloc[1380]
    assert out["close"].iloc[0] == bars["close"].iloc[1379]
    with pytest.raises(ConfigError, match="at most one day"):
        resample_bars(bars, "2D", calendar=CAL)


def test_rows_inside_a_halt_error_or_drop():
    bars = make_bars(30, "2024-01-08 21:45:00+00:00")  # 15:45-16:14 Chicago
    with pytest.raises(DataValidationError, match=r"\[session\]") as err:
        resample_bars(bars, "5min", calendar=CAL)
    assert err.value.issues[0].rows[0] == 15
    out = resample_bars(bars, "5min", calendar=CAL, on_closed="drop")
    assert [str(t) for t in out["timestamp"]] == ["2024-01-08 21:45:00+00:00", "2024-01-08 21:50:00+00:00",
                                                  "2024-01-08 21:55:00+00:00"]
    assert out["volume"].sum() == bars["volume"].iloc[:15].sum()


def test_bad_inputs():
    bars = make_bars(10)
    with pytest.raises(ConfigError, match="fixed duration"):
        resample_bars(bars, "ME")
    with pytest.raises(ConfigError, match="on_closed"):
        resample_bars(bars, "5min", calendar=CAL, on_closed="ignore")
    unsorted = bars.iloc[::-1].reset_index(drop=True)
    with pytest.raises(DataValidationError, match=r"\[sorted\]"):
        resample_bars(unsorted, "5min")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_resampling_is_byte_identical(tmp_path, suffix):
    bars = generate_bars(3000, seed=11)
    a = write_bars(resample_bars(bars, "15min", calendar=CAL), tmp_path / f"a.{suffix}").read_bytes()
    b = write_bars(resample_bars(bars.copy(), "15min", calendar=CAL), tmp_path / f"b.{suffix}").read_bytes()
    fresh = write_bars(resample_bars(generate_bars(3000, seed=11), "15min", calendar=CAL),
                       tmp_path / f"c.{suffix}").read_bytes()
    assert a == b == fresh


# ------------------------------------------------------------------------------------------- volume / dollars
def _tick_series():
    ts = pd.date_range("2024-01-08 14:30", periods=8, freq="1s", tz="UTC")
    return pd.DataFrame({"timestamp": ts, "price": [10.0, 11, 9, 10, 12, 13, 11, 10],
                         "volume": [3.0, 4, 2, 6, 1, 1, 5, 2]})


def test_volume_bars_by_hand():
    ticks = _tick_series()
    out = volume_bars(ticks, 7)
    # running sums restart after reaching 7: [3+4] [2+6] [1+1+5] and 2 left over
    assert out["volume"].tolist() == [7.0, 8.0, 7.0]
    assert out[["open", "high", "low", "close"]].values.tolist() == [
        [10, 11, 10, 11], [9, 10, 9, 10], [12, 13, 11, 11]]
    assert out["timestamp"].dt.second.tolist() == [0, 2, 4]  # first tick of each bar
    assert out["last_timestamp"].dt.second.tolist() == [1, 3, 6]  # when each bar was complete
    partial = volume_bars(ticks, 7, keep_partial=True)
    assert partial["volume"].tolist() == [7.0, 8.0, 7.0, 2.0]


def test_dollar_bars_by_hand():
    ticks = _tick_series()
    # values: 30, 44, 18, 60, 12, 13, 55, 20 -> [30+44] [18+60] [12+13+55] and 20 left over
    out = dollar_bars(ticks, 70)
    assert out["volume"].tolist() == [7.0, 8.0, 7.0]
    assert dollar_bars(ticks, 7, multiplier=10.0)["volume"].tolist() == volume_bars(ticks, 1)["volume"].tolist()


def test_threshold_bars_from_bars_meet_threshold():
    bars = generate_bars(5000, seed=5)
    threshold = 20 * bars["volume"].median()
    out = volume_bars(bars, threshold)
    assert (out["volume"] >= threshold).all()
    # Restarting means a bar never holds a full threshold before its last row.
    last_row = bars.set_index("timestamp").loc[out["last_timestamp"], "volume"].to_numpy()
    assert (out["volume"].to_numpy() - last_row < threshold).all()
    assert out["high"].max() <= bars["high"].max() and out["low"].min() >= bars["low"].min()
    notional = dollar_bars(bars, threshold * 4500 * 5, multiplier=5.0)
    dollars = (bars["close"] * bars["volume"] * 5.0).to_numpy()
    start = np.searchsorted(bars["timestamp"].to_numpy(), notional["timestamp"].to_numpy())
    end = np.searchsorted(bars["timestamp"].to_numpy(), notional["last_timestamp"].to_numpy())
    sums = np.array([dollars[s:e + 1].sum() for s, e in zip(start, end)])
    assert (sums >= threshold * 4500 * 5).all()


def test_threshold_must_be_positive():
    with pytest.raises(ConfigError, match="positive"):
        volume_bars(_tick_series(), 0)
    with pytest.raises(ConfigError, match="positive"):
        dollar_bars(_tick_series(), 10, multiplier=-1)


def test_threshold_bars_deterministic(tmp_path):
    bars = generate_bars(4000, seed=8)
    one = write_bars(volume_bars(bars, 5000), tmp_path / "a.csv").read_bytes()
    two = write_bars(volume_bars(generate_bars(4000, seed=8), 5000), tmp_path / "b.csv").read_bytes()
    assert one == two


# ------------------------------------------------------------------------------------------- properties

@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4 * 3600), st.integers(-40, 40), st.integers(0, 50)), min_size=1,
                max_size=200),
       st.sampled_from(["1min", "7min", "1h"]))
def test_time_bars_invariants(rows, freq):
    rows = sorted(rows, key=lambda r: r[0])  # stable: equal times keep their order
    start = pd.Timestamp("2024-01-08 14:00", tz="UTC")
    ticks = pd.DataFrame({"timestamp": [start + pd.Timedelta(seconds=s) for s, _, _ in rows],
                          "price": [4500 + 0.25 * p for _, p, _ in rows],
                          "volume": [float(v) for _, _, v in rows]})
    ticks["timestamp"] = ticks["timestamp"].astype("datetime64[ns, UTC]")
    out = resample_ticks(ticks, freq, calendar=CAL)
    assert out["volume"].sum() == ticks["volume"].sum()
    assert out["timestamp"].is_monotonic_increasing and out["timestamp"].is_unique
    assert (out["low"] <= out[["open", "close"]].min(axis=1)).all()
    assert (out["high"] >= out[["open", "close"]].max(axis=1)).all()
    # Each tick falls inside the bar whose label is the last one at or before it.
    labels = pd.DatetimeIndex(out["timestamp"]).asi8
    stamps = pd.DatetimeIndex(ticks["timestamp"]).asi8
    pos = np.searchsorted(labels, stamps, side="right") - 1
    assert (pos >= 0).all()
    assert (stamps - labels[pos] < pd.Timedelta(freq).value).all()
    assert out["open"].iloc[0] == ticks["price"].iloc[0] and out["close"].iloc[-1] == ticks["price"].iloc[-1]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=300), st.integers(1, 100))
def test_volume_bars_invariants(volumes, threshold):
    n = len(volumes)
    ticks = pd.DataFrame({"timestamp": pd.date_range("2024-01-08 14:00", periods=n, freq="1s", tz="UTC"),
                          "price": 100.0 + np.arange(n) % 7, "volume": np.array(volumes, float)})
    full = volume_bars(ticks, threshold)
    partial = volume_bars(ticks, threshold, keep_partial=True)
    assert (full["volume"] >= threshold).all()
    assert partial["volume"].sum() == ticks["volume"].sum()
    assert len(partial) - len(full) in (0, 1)
    pd.testing.assert_frame_equal(partial.iloc[:len(full)], full)
