"""Every bar/tick check, each triggered by one bad input."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from data_helpers import issue, make_bars

from factory.data.validation import check_bars, check_ticks, inspect_bars, validate_bars, validate_ticks
from factory.errors import DataValidationError

CAL = "cme_globex_equity"


def test_clean_bars_have_no_issues(bars):
    assert validate_bars(bars) == []
    assert validate_bars(bars, calendar=CAL) == []
    assert check_bars(bars) == []


def test_missing_column(bars):
    found = issue(validate_bars(bars.drop(columns="volume")), "columns", "volume")
    assert "missing column 'volume'" in found.message


def test_non_numeric_column(bars):
    bad = bars.astype({"close": object})
    bad.loc[3, "close"] = "abc"
    found = issue(validate_bars(bad), "numeric", "close")
    assert found.rows == (3,)
    assert "'abc'" in found.message
    # A value that is not a number is not also reported as missing.
    assert not [i for i in validate_bars(bad) if i.check == "nan"]


def test_nan(bars):
    bars.loc[2, "close"] = np.nan
    bars.loc[7, "close"] = np.nan
    found = issue(validate_bars(bars), "nan", "close")
    assert found.rows == (2, 7)
    assert "2 rows missing" in found.message


def test_missing_timestamp(bars):
    bars["timestamp"] = bars["timestamp"].astype(object)
    bars.loc[4, "timestamp"] = pd.NaT
    bars["timestamp"] = pd.to_datetime(bars["timestamp"], utc=True)
    assert issue(validate_bars(bars), "nan", "timestamp").rows == (4,)


def test_infinite(bars):
    bars.loc[4, "high"] = np.inf
    found = issue(validate_bars(bars), "finite", "high")
    assert found.rows == (4,)


def test_unsorted(bars):
    ts = bars["timestamp"].to_numpy().copy()
    ts[[3, 4]] = ts[[4, 3]]
    bars["timestamp"] = pd.DatetimeIndex(ts)
    found = issue(validate_bars(bars), "sorted", "timestamp")
    assert found.rows == (4,)


def test_duplicate_timestamps(bars):
    bars.loc[5, "timestamp"] = bars.loc[4, "timestamp"]
    found = issue(validate_bars(bars), "unique", "timestamp")
    assert found.rows == (5,)
    assert not [i for i in validate_bars(bars) if i.check == "sorted"]


def test_duplicate_timestamps_when_also_unsorted(bars):
    bars.loc[9, "timestamp"] = bars.loc[2, "timestamp"]
    found = validate_bars(bars)
    assert issue(found, "unique").rows == (9,)
    assert issue(found, "sorted").rows == (9,)


def test_high_below_low(bars):
    bars.loc[2, "high"] = bars.loc[2, "low"] - 1.0
    found = issue(validate_bars(bars), "high_low", "high")
    assert found.rows == (2,)


@pytest.mark.parametrize("column,row,delta", [("open", 6, 1.0), ("close", 1, -0.5)])
def test_open_close_outside_range(bars, column, row, delta):
    edge = "high" if delta > 0 else "low"
    bars.loc[row, column] = bars.loc[row, edge] + delta
    found = issue(validate_bars(bars), "ohlc_range", column)
    assert found.rows == (row,)
    assert f"{column} outside [low, high]" in found.message


def test_negative_volume(bars):
    bars.loc[7, "volume"] = -1.0
    found = issue(validate_bars(bars), "volume", "volume")
    assert found.rows == (7,)


def test_naive_timestamps(bars):
    bars["timestamp"] = bars["timestamp"].dt.tz_localize(None)
    found = issue(validate_bars(bars), "timezone", "timestamp")
    assert "naive" in found.message and found.rows[0] == 0


def test_mixed_time_zones(bars):
    mixed = [t if i < 3 else t.tz_convert("America/Chicago") for i, t in enumerate(bars["timestamp"])]
    bars["timestamp"] = pd.Series(mixed, dtype=object)
    found = issue(validate_bars(bars), "timezone", "timestamp")
    assert found.rows[0] == 3
    assert "mix time zones" in found.message


def test_timestamp_not_datetime(bars):
    bars["timestamp"] = np.arange(len(bars))
    assert issue(validate_bars(bars), "datetime", "timestamp").rows[0] == 0


def test_empty(bars):
    found = validate_bars(bars.iloc[:0])
    assert [i.check for i in found] == ["empty"]


def test_min_bars(bars):
    found = issue(validate_bars(bars, min_bars=500), "min_bars")
    assert "at least 500" in found.message and "20 bars" in found.message
    assert validate_bars(bars, min_bars=20) == []


def test_gap_is_a_warning(bars):
    gappy = make_bars(60).drop(index=range(20, 40)).reset_index(drop=True)
    found = issue(validate_bars(gappy), "gap", "timestamp")
    assert found.severity == "warning"
    assert found.rows == (20,)
    assert check_bars(gappy) == [found]  # warnings do not raise


def test_halt_and_weekend_are_not_gaps_with_calendar():
    # Friday 15:50-15:59 Chicago, then the Sunday 17:00 open.
    weekend = pd.concat([make_bars(10, "2024-01-12 21:50:00+00:00"), make_bars(10, "2024-01-14 23:00:00+00:00")],
                        ignore_index=True)
    # Monday 15:55-15:59 Chicago, then the 17:00 reopen after the daily halt.
    halt = pd.concat([make_bars(10, "2024-01-15 21:50:00+00:00"), make_bars(10, "2024-01-15 23:00:00+00:00")],
                     ignore_index=True)
    for df in (weekend, halt):
        assert validate_bars(df, calendar=CAL) == []
        assert issue(validate_bars(df), "gap").rows == (10,)


def test_bars_inside_halt_warn_with_calendar():
    df = make_bars(30, "2024-01-08 21:45:00+00:00")  # 15:45-16:14 Chicago runs into the halt
    found = issue(validate_bars(df, calendar=CAL), "session", "timestamp")
    assert found.severity == "warning" and found.rows[0] == 15


def test_all_problems_reported_at_once(bars):
    bars.loc[1, "volume"] = -5
    bars.loc[2, "high"] = bars.loc[2, "low"] - 1
    bars.loc[3, "open"] = np.nan
    checks = {i.check for i in validate_bars(bars.drop(columns="close"), min_bars=100)}
    assert {"columns", "volume", "high_low", "nan", "min_bars"} <= checks


def test_check_bars_raises_with_all_issues(bars):
    bars.loc[1, "volume"] = -5
    bars.loc[3, "open"] = np.nan
    with pytest.raises(DataValidationError) as err:
        check_bars(bars)
    assert {i.check for i in err.value.issues} == {"volume", "nan"}
    assert "[nan] column 'open'" in str(err.value) and "+1 more problem" in str(err.value)


def test_rows_are_capped_at_five(bars):
    bars["volume"] = -1.0
    found = issue(validate_bars(bars), "volume")
    assert found.rows == (0, 1, 2, 3, 4)
    assert "20 rows" in found.message


# ----------------------------------------------------------------------------------------------------- ticks
def _ticks():
    ts = pd.to_datetime(["2024-01-08 14:30:00.1", "2024-01-08 14:30:00.1", "2024-01-08 14:30:02.0"], utc=True)
    return pd.DataFrame({"timestamp": ts, "price": [4500.0, 4500.25, 4500.0], "volume": [1.0, 3.0, 2.0]})


def test_ticks_allow_equal_timestamps():
    assert validate_ticks(_ticks()) == []
    assert check_ticks(_ticks()) == []


def test_ticks_checks():
    t = _ticks()
    t.loc[2, "timestamp"] = pd.Timestamp("2024-01-08 14:29:00", tz="UTC")
    t.loc[1, "volume"] = -1
    found = validate_ticks(t)
    assert issue(found, "sorted").rows == (2,)
    assert issue(found, "volume").rows == (1,)
    assert issue(validate_ticks(_ticks().drop(columns="price")), "columns", "price")
    with pytest.raises(DataValidationError):
        check_ticks(t)


# ----------------------------------------------------------------------------------------------------- values
def test_non_positive_price(bars):
    bars.loc[3, "low"] = 0.0
    bars.loc[8, "close"] = -1.0
    found = validate_bars(bars)
    assert issue(found, "price", "low").rows == (3,)
    assert issue(found, "price", "close").rows == (8,)
    assert "not positive" in issue(found, "price", "low").message


def test_magnitude(bars):
    bars.loc[5, "volume"] = 1e15
    bars.loc[6, "volume"] = np.inf
    found = validate_bars(bars)
    assert issue(found, "magnitude", "volume").rows == (5,)  # an infinity is 'finite', not also 'magnitude'
    assert issue(found, "finite", "volume").rows == (6,)


def test_ticks_share_the_value_checks():
    t = _ticks()
    t.loc[1, "price"] = 0.0
    assert issue(validate_ticks(t), "price", "price").rows == (1,)


# ----------------------------------------------------------------------------------------------------- modes
def _iso(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(timestamp=[t.isoformat() for t in df["timestamp"]])


def test_serving_mode_reads_what_a_request_sends(bars):
    # A pipeline frame holds datetimes with explicit zones; a request may send text, epochs or naive UTC.
    for request in (_iso(bars), bars.assign(timestamp=bars["timestamp"].astype("int64") // 10**6),
                    bars.assign(timestamp=bars["timestamp"].dt.tz_localize(None))):
        assert validate_bars(request, mode="serving") == []
        assert {i.check for i in validate_bars(request)} & {"datetime", "timezone"}


def test_each_mode_keeps_its_words_for_timestamps(bars):
    bars["timestamp"] = bars["timestamp"].where(bars.index != 4)
    assert issue(validate_bars(bars), "nan", "timestamp").rows == (4,)
    assert issue(validate_bars(bars, mode="serving"), "timestamp", "timestamp").rows == (4,)
    assert [i.check for i in validate_bars([1], mode="serving")] == ["type"]
    assert [i.check for i in validate_bars([1])] == ["columns"]


def test_numbers_as_text_are_read_only_from_files(bars):
    # A CSV column with one bad cell arrives as text; a JSON request has real numbers, so text is a client error.
    bars["close"] = bars["close"].astype(str).astype(object)
    assert validate_bars(bars) == []
    assert issue(validate_bars(bars, mode="serving"), "numeric", "close").rows == (0, 1, 2, 3, 4)


def test_first_error_stops_early(bars):
    bars.loc[2, "open"] = np.nan
    bars.loc[7, "volume"] = -1.0
    every = validate_bars(bars, mode="serving")
    assert [i.check for i in every] == ["nan", "volume"]
    assert validate_bars(bars, mode="serving", first_error=True) == every[:1]


def test_max_rows(bars):
    assert issue(validate_bars(bars, max_rows=10), "rows").message == "20 bars exceed the limit of 10"
    assert validate_bars(bars, max_rows=20) == []


def test_gap_factor_none_turns_gap_warnings_off():
    gappy = make_bars(60).drop(index=range(20, 40)).reset_index(drop=True)
    assert validate_bars(gappy, gap_factor=None) == []


def test_unknown_mode_is_refused(bars):
    with pytest.raises(ValueError, match="unknown mode 'lenient'"):
        validate_bars(bars, mode="lenient")


def test_inspect_bars_counts_rows_and_normalises(bars):
    bars["volume"] = bars["volume"].astype(np.int64)
    report = inspect_bars(_iso(bars).set_index(pd.RangeIndex(100, 120)), mode="serving")
    assert report.errors == []
    out = report.bars()
    assert str(out["timestamp"].dtype) == "datetime64[ns, UTC]" and out.index.equals(pd.RangeIndex(20))
    assert all(out[c].dtype == np.float64 for c in out.columns[1:])
    pd.testing.assert_series_equal(out["timestamp"], bars["timestamp"].dt.tz_convert("UTC"), check_names=False)

    bars.loc[[1, 3, 5, 7, 9, 11, 13], "close"] = np.nan
    report = inspect_bars(bars)
    [(found, count)] = report.errors
    assert found.rows == (1, 3, 5, 7, 9) and count == 7  # Issue.rows keeps five; the count is exact
    with pytest.raises(DataValidationError):
        report.bars()
