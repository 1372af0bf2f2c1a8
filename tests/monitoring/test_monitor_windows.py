"""Inference-log cursor and windows: dot files ignored, settle delay, windows across and inside files, waiting."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from monitoring_helpers import FEATURES, T0, normal_frame, write_log

from monitoring.log_reader import Cursor, LogReader
from monitoring.windows import row_windows, time_windows


def _reader(tmp_path, name="m"):
    return LogReader(tmp_path / name)


def test_row_windows_cut_across_and_inside_files(tmp_path):
    frame = normal_frame(500, 1)
    frame["f0"] = range(500)  # row order is visible in the data
    write_log(tmp_path, "m", frame, [1, 37, 90, 300])
    (tmp_path / "m" / ".tmp-20260105T000000000000Z-x.parquet").write_bytes(b"torn")
    chunks = _reader(tmp_path).pending(Cursor())
    assert sum(len(c.frame) for c in chunks) == 500
    wins = row_windows(chunks, 200)
    assert [w.n_rows for w in wins] == [200, 200]  # the last 100 rows wait for a complete window
    assert list(wins[0].frame["f0"]) == list(range(200)) and wins[1].frame["f0"].iloc[0] == 200
    # Resuming from the first window's end gives the same second window (same key, same rows).
    again = row_windows(_reader(tmp_path).pending(wins[0].end), 200)
    assert again[0].key == wins[1].key and again[0].frame.equals(wins[1].frame)
    assert again[0].first == wins[1].first and wins[0].end.row > 0  # the window ended inside a file


def test_nothing_after_the_last_complete_window_is_lost(tmp_path):
    write_log(tmp_path, "m", normal_frame(450, 1), 25)
    reader = _reader(tmp_path)
    wins = row_windows(reader.pending(Cursor()), 200)
    rest = reader.pending(wins[-1].end)
    assert sum(len(c.frame) for c in rest) == 50 and row_windows(rest, 200) == []


def test_settle_delay_hides_the_newest_files(tmp_path):
    write_log(tmp_path, "m", normal_frame(10, 1), 1, start=T0, step=pd.Timedelta(seconds=1))
    reader = LogReader(tmp_path / "m", settle_s=5)
    chunks = reader.pending(Cursor(), now=T0.to_pydatetime() + timedelta(seconds=9))
    assert len(chunks) == 4  # received at T0 .. T0+3s: more than 5 s before now


def test_time_windows_complete_when_a_later_row_arrives_or_time_passes(tmp_path):
    frame = normal_frame(30, 1, columns=FEATURES)
    # One file every 6 minutes: 10 in each of three hours.
    write_log(tmp_path, "m", frame, 1, start=T0, step=pd.Timedelta(minutes=6))
    chunks = _reader(tmp_path).pending(Cursor())
    wins = time_windows(chunks, pd.Timedelta("1h"), now=T0.to_pydatetime() + timedelta(hours=2, minutes=55))
    assert [w.n_rows for w in wins] == [10, 10]  # the third hour is not over yet
    assert wins[0].start_time == T0 and wins[0].end_time == T0 + pd.Timedelta("1h")
    assert wins[1].key == f"time:{(T0 + pd.Timedelta('1h')).isoformat()}/{(T0 + pd.Timedelta('2h')).isoformat()}"
    later = time_windows(chunks, pd.Timedelta("1h"), now=T0.to_pydatetime() + timedelta(hours=3, seconds=1))
    assert [w.n_rows for w in later] == [10, 10, 10]
