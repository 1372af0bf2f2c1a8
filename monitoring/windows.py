"""Cutting pending inference-log rows into complete windows; an incomplete window waits for more rows.

* row windows: every ``n`` consecutive rows (in receive order) form one window; its start and end are the receive
  times of its first and last rows;
* time windows: the rows received in one UTC-aligned interval ``[k * d, (k + 1) * d)``; the interval is complete
  once a row of a later interval has been read, or once the clock (less the settle delay) has passed its end.
  Intervals without rows produce no window.

Each window carries its ``key``: a text that identifies it for good (the position of its first row, or its
interval), from which alert ids are derived. The same log and settings always give the same windows and keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from monitoring.log_reader import Chunk, Cursor


@dataclass(frozen=True)
class Window:
    """One complete window: its rows, where it starts and ends in the log, and when."""

    key: str
    frame: pd.DataFrame
    first: Cursor
    end: Cursor  # position after the window's last row
    start_time: pd.Timestamp
    end_time: pd.Timestamp

    @property
    def n_rows(self) -> int:
        return len(self.frame)


def _positions(chunks: list[Chunk]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """All pending rows as one frame, with each row's file index and row number in its file."""
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    file_idx = np.concatenate([np.full(len(c.frame), i) for i, c in enumerate(chunks)])
    row_in_file = np.concatenate([np.arange(c.offset, c.offset + len(c.frame)) for c in chunks])
    return frame, file_idx, row_in_file


def _received(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["received_at"], utc=True)


def _window(chunks, frame, file_idx, row_in_file, lo: int, hi: int, key: str, start, end) -> Window:
    names = [c.name for c in chunks]
    first = Cursor(names[file_idx[lo]], int(row_in_file[lo]))
    last = Cursor(names[file_idx[hi - 1]], int(row_in_file[hi - 1]) + 1)
    return Window(key, frame.iloc[lo:hi].reset_index(drop=True), first, last, start, end)


def row_windows(chunks: list[Chunk], n: int) -> list[Window]:
    """Every complete run of ``n`` rows, oldest first."""
    if not chunks or sum(len(c.frame) for c in chunks) < n:
        return []
    frame, file_idx, row_in_file = _positions(chunks)
    received = _received(frame)
    out = []
    for lo in range(0, len(frame) - n + 1, n):
        hi = lo + n
        key = f"rows:{chunks[file_idx[lo]].name}:{int(row_in_file[lo])}:{n}"
        out.append(_window(chunks, frame, file_idx, row_in_file, lo, hi, key, received.iloc[lo],
                           received.iloc[hi - 1]))
    return out


def time_windows(chunks: list[Chunk], duration: pd.Timedelta, now: datetime | None = None,
                 settle_s: float = 0.0) -> list[Window]:
    """Every complete receive-time interval of length ``duration`` that holds rows, oldest first."""
    if not chunks:
        return []
    frame, file_idx, row_in_file = _positions(chunks)
    ns = _received(frame).dt.as_unit("ns").astype("int64").to_numpy()
    step = int(duration.value)
    bucket = ns // step
    now = now or datetime.now(timezone.utc)
    horizon = pd.Timestamp(now - timedelta(seconds=settle_s)).value
    # A new window starts wherever the interval changes (rows arrive in receive order).
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(frame)]
    out = []
    for i, (lo, hi) in enumerate(zip(starts, ends)):
        t0 = int(bucket[lo]) * step
        t1 = t0 + step
        if i == len(starts) - 1 and horizon < t1:
            break  # the newest interval may still receive rows
        start, end = pd.Timestamp(t0, tz="UTC"), pd.Timestamp(t1, tz="UTC")
        key = f"time:{start.isoformat()}/{end.isoformat()}"
        out.append(_window(chunks, frame, file_idx, row_in_file, int(lo), int(hi), key, start, end))
    return out
