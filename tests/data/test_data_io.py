"""Reading, writing and time-zone handling of bar and tick files."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from data_helpers import issue, make_bars

from factory.data.io import read_bars, read_ticks, validate_file, write_bars, write_ticks
from factory.errors import ConfigError, DataValidationError

HEADER = "timestamp,open,high,low,close,volume\n"


def write_text(path, rows, header=HEADER):
    path.write_text(header + "".join(r + "\n" for r in rows))
    return path


def bar_rows(stamps):
    return [f"{s},100,101,99,100.5,10" for s in stamps]


@pytest.mark.parametrize("name", ["bars.csv", "bars.csv.gz", "bars.parquet"])
def test_round_trip(tmp_path, bars, name):
    path = write_bars(bars, tmp_path / name)
    back = read_bars(path)
    pd.testing.assert_frame_equal(back, bars)
    assert str(back["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert isinstance(back.index, pd.RangeIndex)


def test_csv_format_is_iso_utc(tmp_path, bars):
    text = write_bars(bars.iloc[:2], tmp_path / "b.csv").read_text()
    assert text.splitlines() == [
        "timestamp,open,high,low,close,volume",
        "2024-01-08T14:30:00+00:00,4500,4500.5,4499.75,4500,100",
        "2024-01-08T14:31:00+00:00,4500,4500.5,4499.5,4499.75,110",
    ]


@pytest.mark.parametrize("name", ["b.csv", "b.csv.gz", "b.parquet"])
def test_writing_is_deterministic_and_atomic(tmp_path, bars, name):
    first = write_bars(bars, tmp_path / name).read_bytes()
    second = write_bars(bars.copy(), tmp_path / name).read_bytes()
    assert first == second
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind
    if name.endswith(".gz"):
        assert gzip.decompress(first).startswith(HEADER.encode())


def test_sub_second_timestamps_are_kept(tmp_path):
    ticks = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-08 14:30:00.250", "2024-01-08 14:30:01.000"],
                                                      utc=True),
                          "price": [4500.25, 4500.5], "volume": [1.0, 2.0]})
    path = write_ticks(ticks, tmp_path / "t.csv")
    assert "2024-01-08T14:30:00.250+00:00" in path.read_text()
    pd.testing.assert_frame_equal(read_ticks(path), ticks)


# --------------------------------------------------------------------------------------------------- columns
def test_column_names_are_normalised_and_extras_dropped(tmp_path):
    path = write_text(tmp_path / "b.csv", ["2024-01-08T14:30:00Z,100,101,99,100.5,10,x"],
                      header=" Timestamp,Open,HIGH,Low,Close,Volume,Symbol\n")
    df = read_bars(path)
    assert list(df.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert df.loc[0, "high"] == 101.0 and df["volume"].dtype == np.float64


def test_duplicate_columns_after_normalising(tmp_path):
    path = write_text(tmp_path / "b.csv", ["2024-01-08T14:30:00Z,100,101,99,100.5,10,1"],
                      header="timestamp,open,high,low,close,volume,CLOSE\n")
    found = issue(validate_file(path), "columns", "close")
    assert "appears 2 times" in found.message


# --------------------------------------------------------------------------------------------------- time zones
def test_naive_timestamps_rejected_without_tz(tmp_path):
    path = write_text(tmp_path / "b.csv", bar_rows(["2024-01-08 08:30:00", "2024-01-08 08:31:00"]))
    with pytest.raises(DataValidationError) as err:
        read_bars(path)
    found = issue(err.value.issues, "timezone", "timestamp")
    # The flag as the user types it: --tz on the command line, -P tz= under mlflow run.
    assert found.rows == (0, 1) and "--tz ZONE" in found.message and "-P tz=ZONE" in found.message


def test_naive_timestamps_localized_across_dst(tmp_path):
    # Friday before and Monday after the 2024-03-10 spring-forward change, 08:30 Chicago each day.
    path = write_text(tmp_path / "b.csv", bar_rows(["2024-03-08 08:30:00", "2024-03-11 08:30:00",
                                                    "2024-11-01 08:30:00", "2024-11-04 08:30:00"]))
    df = read_bars(path, tz="America/Chicago")
    assert [str(t) for t in df["timestamp"]] == [
        "2024-03-08 14:30:00+00:00", "2024-03-11 13:30:00+00:00",
        "2024-11-01 13:30:00+00:00", "2024-11-04 14:30:00+00:00"]


def test_nonexistent_local_time_is_an_error(tmp_path):
    path = write_text(tmp_path / "b.csv", bar_rows(["2024-03-10 01:59:00", "2024-03-10 02:30:00"]))
    found = issue(validate_file(path, tz="America/Chicago"), "timezone")
    assert found.rows == (1,)


def test_offsets_are_converted_to_utc(tmp_path):
    path = write_text(tmp_path / "b.csv", bar_rows(["2024-01-08T08:30:00-06:00", "2024-01-08T15:31:00+01:00",
                                                    "2024-01-08T14:32:00Z"]))
    with pytest.raises(DataValidationError) as err:  # three different offsets without tz= to confirm them
        read_bars(path)
    assert issue(err.value.issues, "timezone").rows == (1, 2)
    same = write_text(tmp_path / "c.csv", bar_rows(["2024-01-08T08:30:00-06:00", "2024-01-08T08:31:00-06:00"]))
    assert [str(t) for t in read_bars(same)["timestamp"]] == ["2024-01-08 14:30:00+00:00",
                                                              "2024-01-08 14:31:00+00:00"]


def test_local_offsets_across_dst_accepted_with_tz(tmp_path):
    path = write_text(tmp_path / "b.csv", bar_rows(["2024-03-08T08:30:00-06:00", "2024-03-11T08:30:00-05:00"]))
    df = read_bars(path, tz="America/Chicago")
    assert [str(t) for t in df["timestamp"]] == ["2024-03-08 14:30:00+00:00", "2024-03-11 13:30:00+00:00"]
    # An offset the zone did not have at that time is a mixed-zone file.
    wrong = write_text(tmp_path / "c.csv", bar_rows(["2024-03-08T08:30:00-06:00", "2024-03-11T08:30:00+00:00"]))
    assert issue(validate_file(wrong, tz="America/Chicago"), "timezone").rows == (1,)


def test_mixed_naive_and_offset_rejected(tmp_path):
    path = write_text(tmp_path / "b.csv", bar_rows(["2024-01-08T14:30:00+00:00", "2024-01-08 14:31:00"]))
    for tz in (None, "America/Chicago"):
        found = issue(validate_file(path, tz=tz), "timezone")
        assert found.rows == (1,) and "mix" in found.message


def test_parquet_naive_and_aware(tmp_path, bars):
    naive = bars.assign(timestamp=bars["timestamp"].dt.tz_convert("America/Chicago").dt.tz_localize(None))
    naive.to_parquet(tmp_path / "n.parquet")
    assert issue(validate_file(tmp_path / "n.parquet"), "timezone").rows[0] == 0
    pd.testing.assert_frame_equal(read_bars(tmp_path / "n.parquet", tz="America/Chicago"), bars)
    bars.assign(timestamp=bars["timestamp"].dt.tz_convert("Asia/Tokyo")).to_parquet(tmp_path / "a.parquet")
    pd.testing.assert_frame_equal(read_bars(tmp_path / "a.parquet"), bars)


def test_unknown_time_zone_is_a_config_error(tmp_path, bars):
    with pytest.raises(ConfigError, match="unknown time zone"):
        read_bars(write_bars(bars, tmp_path / "b.csv"), tz="Mars/Olympus")


# --------------------------------------------------------------------------------------------------- bad files
def test_missing_file(tmp_path):
    found = issue(validate_file(tmp_path / "nope.csv"), "readable")
    assert "not found" in found.message
    with pytest.raises(DataValidationError, match=r"\[readable\]"):
        read_bars(tmp_path / "nope.csv")


def test_unsupported_suffix(tmp_path):
    (tmp_path / "b.xlsx").write_text("x")
    assert "unsupported file type" in issue(validate_file(tmp_path / "b.xlsx"), "readable").message


def test_unreadable_parquet(tmp_path):
    (tmp_path / "b.parquet").write_bytes(b"this is not parquet")
    assert issue(validate_file(tmp_path / "b.parquet"), "readable").message.startswith("cannot read b.parquet")


@pytest.mark.parametrize("content", ["", HEADER])
def test_empty_files(tmp_path, content):
    (tmp_path / "b.csv").write_text(content)
    assert [i.check for i in validate_file(tmp_path / "b.csv")] == ["empty"]


def test_validate_file_reports_everything_at_once(tmp_path):
    path = write_text(tmp_path / "b.csv", [
        "2024-01-08T14:30:00Z,100,101,99,100.5,10",
        "2024-01-08T14:32:00Z,100,98,99,100.5,10",    # high < low
        "2024-01-08T14:31:00Z,100,101,99,100.5,-3",   # unsorted, negative volume
        "2024-01-08T14:33:00Z,100,101,99,,10",        # missing close
        "not a time,100,101,99,abc,10",               # unreadable timestamp, non-numeric close
        "2024-01-08T14:34:00Z,100,101,99,100.5,10",
    ])
    found = validate_file(path, min_bars=50)
    assert issue(found, "high_low").rows == (1,)
    assert issue(found, "sorted").rows == (2,)
    assert issue(found, "volume").rows == (2,)
    assert issue(found, "nan", "close").rows == (3,)
    assert issue(found, "numeric", "close").rows == (4,)
    assert issue(found, "datetime", "timestamp").rows == (4,)
    assert "at least 50" in issue(found, "min_bars").message
    with pytest.raises(DataValidationError) as err:
        read_bars(path)
    assert len(err.value.errors) >= 6


def test_warnings_are_returned_not_raised(tmp_path):
    gappy = make_bars(60).drop(index=range(20, 40)).reset_index(drop=True)
    path = write_bars(gappy, tmp_path / "g.csv")
    df, warnings = read_bars(path, return_warnings=True)
    assert len(df) == 40
    assert [w.check for w in warnings] == ["gap"]
    assert len(read_bars(path)) == 40


def test_min_bars_on_read(tmp_path, bars):
    path = write_bars(bars, tmp_path / "b.csv")
    with pytest.raises(DataValidationError, match=r"\[min_bars\]"):
        read_bars(path, min_bars=1000)


def test_write_refuses_unknown_suffix_and_missing_columns(tmp_path, bars):
    from factory.errors import FactoryError

    with pytest.raises(FactoryError, match="csv"):
        write_bars(bars, tmp_path / "b.txt")
    with pytest.raises(DataValidationError, match="volume"):
        write_bars(bars.drop(columns="volume"), tmp_path / "b.csv")
    with pytest.raises(DataValidationError, match=r"\[timezone\]"):
        write_bars(bars.assign(timestamp=bars["timestamp"].dt.tz_localize(None)), tmp_path / "b.csv")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("sep, shown, word", [(";", ";", "semicolons"), ("\t", "\\t", "tabs")])
def test_a_header_joined_by_another_separator_is_named(tmp_path, sep, shown, word):
    path = tmp_path / "bars.csv"
    path.write_text(sep.join(["timestamp", "open", "high", "low", "close", "volume"]) + "\n"
                    + sep.join(["2024-01-02T15:00:00Z", "1", "1", "1", "1", "1"]) + "\n")
    with pytest.raises(DataValidationError) as err:
        read_bars(path)
    first = err.value.issues[0].one_line()
    assert "found 1 column(s): 'timestamp" in first and "found: none" not in first
    assert f"separated by {word}" in first and f"sep='{shown}'" in first


def test_offending_rows_are_named_as_rows_and_file_lines(tmp_path, bars):
    path = tmp_path / "bars.csv"
    write_bars(bars.iloc[:20], path)
    lines = path.read_text().splitlines()
    lines[1 + 6], lines[1 + 7] = lines[1 + 7], lines[1 + 6]  # data rows 6 and 7 swapped: row 7 is out of order
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError) as err:
        read_bars(path)
    sorted_issue = next(i for i in err.value.issues if i.check == "sorted")
    assert sorted_issue.rows == (7,)
    assert "(first rows, counted from 0: 7; file lines 9)" in sorted_issue.one_line()
    file_line = path.read_text().splitlines()  # file line 9 is the bar stamped before the line above it
    assert pd.Timestamp(file_line[9 - 1].split(",")[0]) < pd.Timestamp(file_line[8 - 1].split(",")[0])
