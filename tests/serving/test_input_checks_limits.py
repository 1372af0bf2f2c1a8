"""Serving input checks added for served traffic: empty requests, absurd magnitudes, and the fast parse paths."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from serving.input_checks import check_bars_input, parse_timestamps


def _bars(n: int = 40) -> pd.DataFrame:
    ts = pd.date_range("2024-03-08 14:30", periods=n, freq="1min", tz="UTC")
    close = 5000 + np.cumsum(np.tile([0.25, -0.5, 0.75, 0.25], n // 4 + 1)[:n])
    return pd.DataFrame({"timestamp": ts, "open": close - 0.25, "high": close + 0.5, "low": close - 0.75,
                         "close": close, "volume": np.arange(n, dtype=np.int64) + 100})


def _fails(df, needle: str) -> str:
    with pytest.raises(MlflowException) as err:
        check_bars_input(df, min_bars=20)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE" and needle in err.value.message
    return err.value.message


def test_empty_request():
    _fails(_bars().iloc[:0], "[empty]: no bars")


@pytest.mark.parametrize("column, value", [("close", 1e308), ("volume", 1e15), ("volume", 10**30)])
def test_absurd_magnitudes(column, value):
    df = _bars()
    if column == "close":
        df[["open", "high", "low", "close"]] = value  # a consistent bar, only absurdly large
    else:
        df[column] = df[column].astype(object)
        df.loc[5, column] = value
    msg = _fails(df, f"[magnitude] column '{column if column == 'volume' else 'open'}'")
    assert "below 1e15" in msg


def test_iso_strings_with_blanks_and_index_are_accepted():
    df = _bars()
    expect = check_bars_input(df, min_bars=20)
    padded = df.assign(timestamp=[f"  {t.isoformat()} " for t in df["timestamp"]])
    padded.index = pd.RangeIndex(500, 540)
    pd.testing.assert_frame_equal(check_bars_input(padded, min_bars=20), expect, check_exact=True)


def test_mixed_kinds_are_still_explained():
    ts = _bars()["timestamp"]
    mixed = pd.Series([t.isoformat() if i != 3 else int(t.value // 10**6) for i, t in enumerate(ts)], dtype=object)
    with pytest.raises(MlflowException, match=r"mixes value types \(text at row 0, integer here\).*row: 3"):
        parse_timestamps(mixed)
    objects = pd.Series(list(ts), dtype=object)
    np.testing.assert_array_equal(parse_timestamps(objects), ts.astype("int64").to_numpy())
    ints = pd.Series([int(t.value // 10**9) for t in ts], dtype=object)
    np.testing.assert_array_equal(parse_timestamps(ints), ts.astype("int64").to_numpy())


@pytest.mark.parametrize("naive_first", [True, False])
def test_iso_strings_with_and_without_offsets_in_one_column(naive_first):
    # Strings without an offset are UTC wherever they sit; pandas alone would lend them the first row's offset.
    ts = _bars()["timestamp"]
    chicago = ts.dt.tz_convert("America/Chicago")
    text = [t.strftime("%Y-%m-%d %H:%M:%S") if (i % 2 == 0) == naive_first else c.isoformat()
            for i, (t, c) in enumerate(zip(ts, chicago))]
    np.testing.assert_array_equal(parse_timestamps(pd.Series(text)), ts.astype("int64").to_numpy())


def test_output_is_a_copy():
    df = _bars().astype({"volume": np.float64})
    before = df.copy()
    out = check_bars_input(df, min_bars=20)
    out.loc[0, "close"] = -1.0
    pd.testing.assert_frame_equal(df, before)
    assert not any(np.shares_memory(out[c].to_numpy(), df[c].to_numpy()) for c in df.columns[1:])
