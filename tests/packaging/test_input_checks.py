"""Serving input checks: every bad request raises MlflowException(INVALID_PARAMETER_VALUE) naming the problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from factory.data.timestamps import parse_timestamps as shared_parse_timestamps
from factory.data.validation import inspect_bars, validate_bars
from serving.input_checks import check_bars_input, parse_timestamps

N = 40


def _bars(n: int = N) -> pd.DataFrame:
    ts = pd.date_range("2024-03-08 14:30", periods=n, freq="1min", tz="UTC")
    close = 5000 + np.cumsum(np.tile([0.25, -0.5, 0.75, 0.25], n // 4 + 1)[:n])
    return pd.DataFrame({"timestamp": ts, "open": close - 0.25, "high": close + 0.5, "low": close - 0.75,
                         "close": close, "volume": np.arange(n, dtype=np.int64) + 100})


def _set(col: str, row: int, value):
    def mutate(df):
        df[col] = df[col].astype(object)
        df.loc[row, col] = value
        return df
    return mutate


BAD = {
    "missing column": (lambda df: df.drop(columns=["volume"]), "[columns]", None, None),
    "non-numeric": (_set("open", 7, "abc"), "[numeric]", "open", 7),
    "boolean column": (lambda df: df.assign(volume=True), "[numeric]", "volume", 0),
    "NaN": (_set("close", 9, np.nan), "[nan]", "close", 9),
    "infinite": (_set("high", 4, np.inf), "[finite]", "high", 4),
    "unsorted": (lambda df: df.iloc[[0, 1, 3, 2] + list(range(4, N))], "[sorted]", "timestamp", 3),
    "duplicate": (lambda df: df.assign(timestamp=df["timestamp"].where(df.index != 6, df["timestamp"][5])),
                  "[unique]", "timestamp", 6),
    "too few rows": (lambda df: df.iloc[:10], "[min_bars]", None, None),
    "high < low": (_set("high", 12, 1.0), "[high_low]", "high", 12),
    "open outside range": (_set("open", 13, 9999.0), "[ohlc_range]", "open", 13),
    "negative volume": (_set("volume", 11, -5), "[volume]", "volume", 11),
    "non-positive price": (lambda df: df.assign(low=df["low"].where(df.index != 3, 0.0)), "[price]", "low", 3),
    "bad timestamp text": (lambda df: df.assign(timestamp=[t.isoformat() if i != 8 else "yesterday"
                                                           for i, t in enumerate(df["timestamp"])]),
                           "[timestamp]", "timestamp", 8),
    "missing timestamp": (_set("timestamp", 2, None), "[timestamp]", "timestamp", 2),
    "mixed epoch units": (lambda df: df.assign(timestamp=[t.value // 10**6 if i != 5 else t.value
                                                          for i, t in enumerate(df["timestamp"])]),
                          "[timestamp]", "timestamp", 5),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_check_column_and_row(case):
    mutate, check, column, row = BAD[case]
    with pytest.raises(MlflowException) as err:
        check_bars_input(mutate(_bars()), min_bars=20)
    exc = err.value
    assert exc.error_code == "INVALID_PARAMETER_VALUE"
    msg = exc.message
    assert check in msg
    if column:
        assert f"column '{column}'" in msg
    if row is not None:
        assert f"first offending row: {row}" in msg


def test_not_a_dataframe():
    with pytest.raises(MlflowException, match=r"\[type\]"):
        check_bars_input([1, 2, 3], min_bars=1)


def test_too_many_rows_follows_the_environment(monkeypatch):
    monkeypatch.setenv("FACTORY_MAX_ROWS", "30")
    with pytest.raises(MlflowException, match=r"\[rows\].*limit of 30.*FACTORY_MAX_ROWS"):
        check_bars_input(_bars(), min_bars=20)
    monkeypatch.setenv("FACTORY_MAX_ROWS", "100")
    assert len(check_bars_input(_bars(), min_bars=20)) == N


def test_good_input_is_normalised():
    out = check_bars_input(_bars().set_index(pd.RangeIndex(100, 100 + N)), min_bars=20)
    assert list(out.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert str(out["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert all(out[c].dtype == np.float64 for c in out.columns[1:])
    assert out.index.equals(pd.RangeIndex(N))


def _formats() -> dict:
    ts = _bars()["timestamp"]
    chicago = ts.dt.tz_convert("America/Chicago")
    return {
        "tz-aware UTC": ts,
        "tz-aware Chicago": chicago,
        "naive (read as UTC)": ts.dt.tz_localize(None),
        "ISO with Z": pd.Series([t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in ts]),
        "ISO with offsets": pd.Series([t.isoformat() for t in chicago]),
        "ISO naive (read as UTC)": pd.Series([t.strftime("%Y-%m-%d %H:%M:%S") for t in ts]),
        "epoch s": pd.Series(ts.astype("int64") // 10**9),
        "epoch ms": pd.Series(ts.astype("int64") // 10**6),
        "epoch us": pd.Series(ts.astype("int64") // 10**3),
        "epoch ns": pd.Series(ts.astype("int64")),
        "object Timestamps, mixed zones": pd.Series([t if i % 2 else t.tz_convert("Asia/Tokyo")
                                                     for i, t in enumerate(ts)], dtype=object),
    }


@pytest.mark.parametrize("name", sorted(_formats()))
def test_every_accepted_timestamp_format_gives_the_same_instants(name):
    expect = _bars()["timestamp"].astype("int64").to_numpy()
    np.testing.assert_array_equal(parse_timestamps(_formats()[name]), expect)


def test_integer_volumes_and_object_numbers_are_accepted():
    df = _bars()
    df["open"] = df["open"].astype(object)  # what a JSON table with mixed ints and floats can turn into
    out = check_bars_input(df, min_bars=20)
    np.testing.assert_array_equal(out["volume"].to_numpy(), _bars()["volume"].to_numpy(dtype=float))


# ----------------------------------------------------------------------------------------------------- one implementation
@pytest.mark.parametrize("case", sorted(BAD))
def test_the_served_error_is_the_shared_checks_first_error(case):
    """Serving runs the training checks (serving mode): same check, column, message and first row."""
    mutate = BAD[case][0]
    first = validate_bars(mutate(_bars()), min_bars=20, mode="serving")[0]
    with pytest.raises(MlflowException) as err:
        check_bars_input(mutate(_bars()), min_bars=20)
    col = f" column '{first.column}'" if first.column else ""
    assert err.value.message.startswith(f"invalid bars: [{first.check}]{col}: {first.message}")
    if first.rows:
        assert f"first offending row: {first.rows[0]}" in err.value.message


def test_good_input_is_the_shared_checks_normalised_bars():
    df = _bars().assign(timestamp=[t.isoformat() for t in _bars()["timestamp"]])
    pd.testing.assert_frame_equal(check_bars_input(df, min_bars=20),
                                  inspect_bars(df, min_bars=20, mode="serving").bars(), check_exact=True)


@pytest.mark.parametrize("name", sorted(_formats()))
def test_serving_timestamps_are_the_shared_parser_in_serving_mode(name):
    idx, issues = shared_parse_timestamps(_formats()[name], mode="serving")
    assert issues == []
    np.testing.assert_array_equal(parse_timestamps(_formats()[name]), idx.asi8)
