"""Checks of the raw bars a served model receives, run before any computation.

:func:`check_bars_input` turns whatever ``mlflow models serve`` (or a local ``predict`` call) hands the pyfunc into
a clean frame: ``timestamp`` as timezone-aware UTC datetimes, ``open, high, low, close, volume`` as float64, a
fresh ``RangeIndex``. The checks are those of training (:func:`factory.data.validation.inspect_bars` in its
``serving`` mode), so a trader sees the same words at training and at serving time; this module only turns their
first error into :class:`mlflow.exceptions.MlflowException` with error code ``INVALID_PARAMETER_VALUE`` (the
scoring server answers HTTP 400 and passes the message on). The message names the check, the column and the first
offending row, e.g.::

    invalid bars: [nan] column 'close': 3 rows missing (NaN) (first offending row: 17, 3 rows in all)

Checks, in order: ``type``, ``columns``, ``rows`` (more than ``FACTORY_MAX_ROWS``), ``empty``, ``min_bars``,
``timestamp`` (missing or unreadable), ``sorted``, ``unique``, then for each column ``numeric``, ``nan``,
``finite``, ``magnitude`` (a price or volume of 1e15 or more: no market quotes that, and such values overflow the
features' sums and products) and ``price`` (not positive), then ``high_low``, ``ohlc_range``, ``volume`` (negative).

Accepted timestamp values (one kind per column; see :mod:`factory.data.timestamps`, serving mode):

* timezone-aware datetimes (any zone; converted to UTC);
* naive datetimes, read as UTC;
* ISO-8601 strings, with or without an offset (``2024-01-08T14:30:00Z``, ``2024-01-08 08:30:00-06:00``);
  strings without an offset are read as UTC;
* integer epochs since 1970-01-01 UTC in seconds, milliseconds, microseconds or nanoseconds, told apart by
  magnitude (below 1e11: seconds; below 1e14: milliseconds; below 1e17: microseconds; else nanoseconds),
  which is unambiguous for every date between 1973 and 2286. ``DataFrame.to_json`` writes milliseconds.
  The whole column must use one unit.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from factory.data.timestamps import read_timestamps
from factory.data.validation import BAR_COLUMNS, MAX_ROWS_ENV, MAX_VALUE, inspect_bars

__all__ = ["BAR_COLUMNS", "DEFAULT_MAX_ROWS", "MAX_ROWS_ENV", "MAX_VALUE", "check_bars_input", "input_error",
           "max_rows", "parse_timestamps"]

DEFAULT_MAX_ROWS = 100_000


def input_error(check: str, message: str, *, column: str | None = None, row: int | None = None,
                n_rows: int | None = None):
    """The exception every bad request raises: an ``MlflowException`` with ``INVALID_PARAMETER_VALUE``."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    col = f" column '{column}'" if column else ""
    where = ""
    if row is not None:
        more = f", {n_rows} rows in all" if n_rows and n_rows > 1 else ""
        where = f" (first offending row: {row}{more})"
    return MlflowException(f"invalid bars: [{check}]{col}: {message}{where}", error_code=INVALID_PARAMETER_VALUE)


def max_rows() -> int:
    """Largest request accepted, from ``FACTORY_MAX_ROWS`` (default 100,000); bounds memory and latency."""
    raw = os.environ.get(MAX_ROWS_ENV, "")
    try:
        value = int(raw) if raw.strip() else DEFAULT_MAX_ROWS
    except ValueError:
        value = DEFAULT_MAX_ROWS
    return value if value > 0 else DEFAULT_MAX_ROWS


def check_bars_input(data, min_bars: int, max_rows_allowed: int | None = None) -> pd.DataFrame:
    """Validate and normalise raw bars; see the module docstring. Returns a new frame (the input is not changed)."""
    limit = max_rows() if max_rows_allowed is None else int(max_rows_allowed)
    # No gap warnings: a request spans weekends and halts, and only an error changes the answer.
    report = inspect_bars(data, min_bars, gap_factor=None, mode="serving", max_rows=limit, first_error=True)
    if report.errors:
        issue, count = report.errors[0]
        raise input_error(issue.check, issue.message, column=issue.column,
                          row=issue.rows[0] if issue.rows else None, n_rows=count)
    return report.bars()


def parse_timestamps(col: pd.Series) -> np.ndarray:
    """UTC nanoseconds since the epoch (int64) of a timestamp column; see the module docstring for what is read."""
    return read_timestamps(col, _raise, mode="serving").asi8


def _raise(check: str, mask: np.ndarray | None, message: str) -> None:
    """A timestamp problem as the request's error: the parser stops at the first."""
    rows = np.flatnonzero(mask) if mask is not None else np.empty(0, int)
    raise input_error(check, message, column="timestamp", row=int(rows[0]) if len(rows) else None,
                      n_rows=len(rows))
