"""Checks of the raw bars a served model receives, run before any computation.

:func:`check_bars_input` turns whatever ``mlflow models serve`` (or a local ``predict`` call) hands the pyfunc into
a clean frame: ``timestamp`` as timezone-aware UTC datetimes, ``open, high, low, close, volume`` as float64, a
fresh ``RangeIndex``. Every problem raises :class:`mlflow.exceptions.MlflowException` with error code
``INVALID_PARAMETER_VALUE`` (the scoring server answers HTTP 400 and passes the message on), and the message
names the check, the column and the first offending row, e.g.::

    invalid bars: [nan] column 'close': 3 missing values (first offending row: 17)

Checks, in order: ``type``, ``columns``, ``rows`` (more than ``FACTORY_MAX_ROWS``), ``empty``, ``min_bars``,
``timestamp`` (missing or unparseable), ``sorted``, ``unique``, ``numeric``, ``nan``, ``finite``, ``magnitude``
(a price or volume of 1e15 or more: no market quotes that, and such values overflow the features' sums and
products), ``price`` (not positive), ``high_low``, ``ohlc_range``, ``volume`` (negative). Names match
:mod:`factory.data.validation` where both exist, so a trader sees the same words at training and at serving time.

Accepted timestamp values (one kind per column):

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

import datetime as _dt
import numbers
import os

import numpy as np
import pandas as pd

BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")
MAX_ROWS_ENV = "FACTORY_MAX_ROWS"
DEFAULT_MAX_ROWS = 100_000
# Largest price or volume accepted (exclusive); products and rolling sums of such values stay far from overflow.
MAX_VALUE = 1e15
# Upper bounds (exclusive) of |epoch| for seconds, milliseconds and microseconds; anything larger is nanoseconds.
_EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))


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
    if not isinstance(data, pd.DataFrame):
        raise input_error("type", f"expected a table of bars (DataFrame), got {type(data).__name__}")
    cols = [str(c) for c in data.columns]
    missing = [c for c in BAR_COLUMNS if c not in cols]
    if missing:
        raise input_error("columns", f"missing column(s) {missing}; need {list(BAR_COLUMNS)} "
                                     f"(found: {', '.join(cols) or 'none'})")
    if len(set(cols)) != len(cols):
        raise input_error("columns", f"duplicate column names: {sorted({c for c in cols if cols.count(c) > 1})}")
    n = len(data)
    limit = max_rows() if max_rows_allowed is None else int(max_rows_allowed)
    if n > limit:
        raise input_error("rows", f"{n} bars exceed the limit of {limit} per request ({MAX_ROWS_ENV}); "
                                  "send only the recent history the model needs")
    if n == 0:
        raise input_error("empty", "no bars: the request has no rows")
    if n < min_bars:
        raise input_error("min_bars", f"{n} bars but the model needs at least {min_bars} (feature and regime "
                                      "warm-up); send more history, oldest first")
    # Every step below reads columns by position, so the caller's index is never copied or consulted.
    ts = parse_timestamps(data["timestamp"])
    _check_order(ts)
    values = {c: _numeric(data[c], c) for c in BAR_COLUMNS[1:]}
    _check_values(values)
    # One constructor call: inserting columns one by one costs more than the checks themselves.
    return pd.DataFrame({"timestamp": pd.DatetimeIndex(ts.view("datetime64[ns]")).tz_localize("UTC"), **values})


# ----------------------------------------------------------------------------------------------------- timestamps
def parse_timestamps(col: pd.Series) -> np.ndarray:
    """UTC nanoseconds since the epoch (int64) of a timestamp column; see the module docstring for what is read."""
    col = col.reset_index(drop=True)
    missing = col.isna().to_numpy()
    if missing.any():
        raise input_error("timestamp", f"{int(missing.sum())} missing timestamp(s)", column="timestamp",
                          row=int(np.argmax(missing)), n_rows=int(missing.sum()))
    dtype = col.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return pd.DatetimeIndex(col).tz_convert("UTC").as_unit("ns").asi8
    if pd.api.types.is_datetime64_dtype(dtype):
        return pd.DatetimeIndex(col).as_unit("ns").asi8  # naive values are UTC wall-clock times
    if pd.api.types.is_bool_dtype(dtype):
        raise input_error("timestamp", "booleans are not timestamps", column="timestamp", row=0)
    if pd.api.types.is_numeric_dtype(dtype):
        return _epochs(col.to_numpy())
    # A column of one kind is recognised in C; the per-value scan only runs to explain a mixed column.
    fast = {"string": "text", "datetime": "datetime", "datetime64": "datetime", "integer": "integer"}
    inferred = fast.get(pd.api.types.infer_dtype(col, skipna=False))
    kinds = np.array([inferred]) if inferred else col.map(_kind).to_numpy()
    first_kind = kinds[0]
    other = kinds != first_kind
    if other.any():
        row = int(np.argmax(other))
        raise input_error("timestamp", f"mixes value types ({first_kind} at row 0, {kinds[row]} here): send one "
                                       "kind of timestamp per request", column="timestamp", row=row)
    if first_kind == "text":
        return _iso_strings(col)
    if first_kind == "datetime":
        try:
            return pd.DatetimeIndex(pd.to_datetime(col, utc=True)).as_unit("ns").asi8
        except (ValueError, TypeError, OverflowError) as exc:
            raise input_error("timestamp", f"unreadable datetimes ({exc})", column="timestamp") from None
    if first_kind == "integer":
        return _epochs(np.array(col.tolist(), dtype=object))
    raise input_error("timestamp", f"expected datetimes, ISO-8601 strings or integer epochs, got {col.iloc[0]!r}",
                      column="timestamp", row=0)


def _kind(value) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, (pd.Timestamp, _dt.datetime, np.datetime64)):
        return "datetime"
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, numbers.Integral):
        return "integer"
    return type(value).__name__


def _iso_strings(col: pd.Series) -> np.ndarray:
    parsed = pd.to_datetime(col, format="ISO8601", utc=True, errors="coerce")
    if parsed.isna().any():
        # Surrounding blanks are the only thing tolerated beyond ISO 8601; strip only when needed (it is slow).
        parsed = pd.to_datetime(col.astype(str).str.strip(), format="ISO8601", utc=True, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise input_error("timestamp", f"not an ISO-8601 timestamp: {col.iloc[row]!r}", column="timestamp",
                          row=row, n_rows=int(bad.sum()))
    return pd.DatetimeIndex(parsed).as_unit("ns").asi8


def _epochs(values: np.ndarray) -> np.ndarray:
    """Integer epochs in one unit (chosen by magnitude) to nanoseconds."""
    if values.dtype.kind == "f":
        whole = np.isfinite(values) & (values == np.round(values))
        if not whole.all():
            row = int(np.argmax(~whole))
            raise input_error("timestamp", f"numeric timestamps must be whole epochs, got {values[row]!r}",
                              column="timestamp", row=row)
    try:
        ints = np.asarray(values, dtype=np.int64)
    except (OverflowError, ValueError, TypeError):
        raise input_error("timestamp", "integer epochs out of range", column="timestamp") from None
    mag = np.abs(ints)
    units = np.full(len(ints), "ns", dtype=object)
    for bound, unit in reversed(_EPOCH_UNITS):
        units[mag < bound] = unit
    if len(set(units)) > 1:
        row = int(np.argmax(units != units[0]))
        raise input_error("timestamp", f"integer epochs mix units ({units[0]} at row 0, {units[row]} here)",
                          column="timestamp", row=row)
    unit = units[0] if len(units) else "ns"
    try:
        return pd.to_datetime(ints, unit=unit, utc=True).as_unit("ns").asi8
    except (OverflowError, ValueError) as exc:
        raise input_error("timestamp", f"integer epochs out of range ({exc})", column="timestamp") from None


def _check_order(ts: np.ndarray) -> None:
    if len(ts) < 2:
        return
    step = np.diff(ts)
    back = step < 0
    if back.any():
        row = int(np.argmax(back)) + 1
        raise input_error("sorted", f"timestamp earlier than the one before (bars must be oldest first; "
                                    f"{int(back.sum())} out of order)", column="timestamp", row=row)
    same = step == 0
    if same.any():
        row = int(np.argmax(same)) + 1
        raise input_error("unique", f"timestamp repeats the one before ({int(same.sum())} duplicates)",
                          column="timestamp", row=row)


# ----------------------------------------------------------------------------------------------------- values
def _numeric(col: pd.Series, name: str) -> np.ndarray:
    """A column as float64; non-numbers (text, booleans) are errors, missing values become NaN."""
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise input_error("numeric", f"booleans are not numbers (dtype {dtype})", column=name, row=0)
    if pd.api.types.is_numeric_dtype(dtype):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    ok = col.map(lambda v: v is None or (isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))))
    ok = ok.to_numpy(dtype=bool)
    if not ok.all():
        row = int(np.argmax(~ok))
        raise input_error("numeric", f"not a number: {col.iloc[row]!r}", column=name, row=row,
                          n_rows=int((~ok).sum()))
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def _first(check: str, mask: np.ndarray, column: str, message: str) -> None:
    if mask.any():
        count = int(mask.sum())
        raise input_error(check, message.format(n=count, s="" if count == 1 else "s"), column=column,
                          row=int(np.argmax(mask)), n_rows=count)


def _check_values(values: dict[str, np.ndarray]) -> None:
    for c, v in values.items():
        _first("nan", np.isnan(v), c, "{n} missing value{s} (NaN)")
        _first("finite", np.isinf(v), c, "{n} infinite value{s}")
        _first("magnitude", np.abs(v) >= MAX_VALUE, c, "{n} value{s} of 1e15 or more (prices and volumes must be "
                                                       "below 1e15)")
    for c in PRICE_COLUMNS:
        _first("price", values[c] <= 0, c, "{n} price{s} not positive")
    _first("high_low", values["high"] < values["low"], "high", "{n} bar{s} with high < low")
    for c in ("open", "close"):
        out = (values[c] < values["low"]) | (values[c] > values["high"])
        _first("ohlc_range", out, c, "{n} bar{s} with " + c + " outside [low, high]")
    _first("volume", values["volume"] < 0, "volume", "{n} negative volume{s}")
