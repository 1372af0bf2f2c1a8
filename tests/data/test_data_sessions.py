"""The CME Globex calendar on known timestamps, including both daylight-saving weeks of 2024."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from factory.data.sessions import calendar_for_contract, get_calendar
from factory.errors import ConfigError

CAL = get_calendar("cme_globex_equity")


def utc(*stamps):
    return pd.DatetimeIndex(list(stamps)).tz_localize("UTC")


# (UTC time, Chicago wall time it stands for, open?)
KNOWN = [
    ("2024-01-07 22:59", "Sun 16:59 CST", False),
    ("2024-01-07 23:00", "Sun 17:00 CST open", True),
    ("2024-01-08 14:30", "Mon 08:30 CST", True),
    ("2024-01-08 21:59", "Mon 15:59 CST", True),
    ("2024-01-08 22:00", "Mon 16:00 CST halt", False),
    ("2024-01-08 22:59", "Mon 16:59 CST halt", False),
    ("2024-01-08 23:00", "Mon 17:00 CST reopen", True),
    ("2024-01-12 21:59", "Fri 15:59 CST", True),
    ("2024-01-12 22:00", "Fri 16:00 CST weekend", False),
    ("2024-01-12 23:00", "Fri 17:00 CST no session", False),
    ("2024-01-13 18:00", "Sat", False),
    # Clocks spring forward on Sunday 2024-03-10 at 02:00: the open is 17:00 CDT = 22:00 UTC.
    ("2024-03-08 21:59", "Fri 15:59 CST", True),
    ("2024-03-08 22:00", "Fri 16:00 CST", False),
    ("2024-03-10 21:59", "Sun 16:59 CDT", False),
    ("2024-03-10 22:00", "Sun 17:00 CDT open", True),
    ("2024-03-11 20:59", "Mon 15:59 CDT", True),
    ("2024-03-11 21:00", "Mon 16:00 CDT halt", False),
    ("2024-03-11 22:00", "Mon 17:00 CDT reopen", True),
    # Clocks fall back on Sunday 2024-11-03: the open is 17:00 CST = 23:00 UTC again.
    ("2024-11-01 20:59", "Fri 15:59 CDT", True),
    ("2024-11-01 21:00", "Fri 16:00 CDT", False),
    ("2024-11-03 22:00", "Sun 16:00 CST", False),
    ("2024-11-03 23:00", "Sun 17:00 CST open", True),
]


@pytest.mark.parametrize("stamp,meaning,expected", KNOWN, ids=[k[1] for k in KNOWN])
def test_is_open_on_known_timestamps(stamp, meaning, expected):
    assert CAL.is_open(utc(stamp))[0] == expected


def test_is_open_is_vectorised_and_matches_table():
    got = CAL.is_open(utc(*[k[0] for k in KNOWN]))
    assert got.dtype == bool
    assert got.tolist() == [k[2] for k in KNOWN]


def test_session_start_id_and_minutes_in_dst_week():
    ts = utc("2024-03-10 22:00", "2024-03-11 14:30", "2024-03-11 20:59", "2024-03-11 22:00", "2024-03-11 21:30")
    start = CAL.session_start(ts)
    assert list(start[:3]) == [pd.Timestamp("2024-03-10 22:00", tz="UTC")] * 3
    assert start[3] == pd.Timestamp("2024-03-11 22:00", tz="UTC")
    assert pd.isna(start[4])  # inside the halt
    # The Sunday-evening session belongs to Monday; the Monday-evening one to Tuesday.
    ids = CAL.session_id(ts)
    assert [str(d.date()) for d in ids[:4]] == ["2024-03-11"] * 3 + ["2024-03-12"]
    assert pd.isna(ids[4])
    minutes = CAL.minutes_since_open(ts)
    np.testing.assert_array_equal(minutes[:4], [0.0, 990.0, 1379.0, 0.0])
    assert np.isnan(minutes[4])
    end = CAL.session_end(ts)
    assert end[0] == pd.Timestamp("2024-03-11 21:00", tz="UTC")


def test_session_start_in_winter():
    ts = utc("2024-01-09 03:15")  # Monday 21:15 CST
    assert CAL.session_start(ts)[0] == pd.Timestamp("2024-01-08 23:00", tz="UTC")
    assert str(CAL.session_id(ts)[0].date()) == "2024-01-09"


def test_bar_within_session():
    ts = utc("2024-01-08 21:00", "2024-01-08 21:01", "2024-01-08 21:55", "2024-01-08 21:56")
    assert CAL.bar_within_session(ts, "60min").tolist() == [True, False, False, False]
    assert CAL.bar_within_session(ts, "5min").tolist() == [True, True, True, False]
    with pytest.raises(ConfigError, match="fixed duration"):
        CAL.bar_within_session(ts, "ME")


def test_trading_clock_skips_halt_and_weekend():
    ts = utc("2024-01-08 21:59", "2024-01-08 23:00",  # Monday halt
             "2024-01-12 21:59", "2024-01-14 23:00",  # weekend
             "2024-03-08 21:59", "2024-03-10 22:00")  # weekend with the spring-forward change
    clock = CAL.trading_clock(ts)
    minute = 60 * 10**9
    assert clock[1] - clock[0] == minute
    assert clock[3] - clock[2] == minute
    assert clock[5] - clock[4] == minute
    assert np.all(np.diff(CAL.trading_clock(pd.date_range("2024-01-01", periods=20_000, freq="7min",
                                                          tz="UTC"))) >= 0)


def test_accepts_series_and_other_time_zones():
    s = pd.Series(pd.DatetimeIndex(["2024-01-08 17:00"]).tz_localize("America/Chicago"))
    assert CAL.is_open(s).tolist() == [True]
    assert CAL.is_open(pd.Timestamp("2024-01-08 16:30", tz="America/Chicago")).tolist() == [False]


def test_lookup():
    assert calendar_for_contract("MGC").name == "cme_globex_metals"
    assert calendar_for_contract("mes") is CAL
    assert get_calendar(None) is None and get_calendar(CAL) is CAL
    with pytest.raises(ConfigError, match="unknown session calendar"):
        get_calendar("nyse")


def test_million_timestamps_under_a_second():
    ts = pd.date_range("2020-01-01", periods=1_000_000, freq="1min", tz="UTC")
    CAL.is_open(ts[:10])
    t0 = time.perf_counter()
    open_ = CAL.is_open(ts)
    CAL.session_start(ts)
    CAL.minutes_since_open(ts)
    CAL.session_id(ts)
    assert time.perf_counter() - t0 < 1.0
    # 5 sessions of 23 h per 168 h week.
    assert abs(open_.mean() - 5 * 23 / 168) < 0.001
