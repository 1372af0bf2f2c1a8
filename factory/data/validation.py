"""Checks of bar and tick frames that report every problem at once.

``validate_bars`` / ``validate_ticks`` return a list of :class:`~factory.errors.Issue`, one per failed check and column,
each naming the first offending row positions (0-based, at most :data:`MAX_ROWS`). They never raise for data problems.
``check_bars`` / ``check_ticks`` raise :class:`~factory.errors.DataValidationError` when any issue is an error and
otherwise return (and log) the warnings. Every check is a handful of vectorised NumPy operations, so a million bars
validate in a fraction of a second.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

from factory.data.sessions import SessionCalendar, get_calendar
from factory.errors import DataValidationError, Issue

log = logging.getLogger(__name__)

BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
TICK_COLUMNS = ("timestamp", "price", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")
MAX_ROWS = 5


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.flatnonzero(mask)[:MAX_ROWS])


def _issue(check: str, column: str | None, mask: np.ndarray | None, message: str, severity: str = "error") -> Issue:
    rows = _first(mask) if mask is not None else ()
    return Issue(check=check, column=column, rows=rows, message=message, severity=severity)


def _count(mask: np.ndarray) -> str:
    n = int(np.count_nonzero(mask))
    return f"{n} row{'s' if n != 1 else ''}"


# ----------------------------------------------------------------------------------------------------- columns
def _numeric_values(df: pd.DataFrame, col: str, issues: list[Issue]) -> np.ndarray:
    """The column as float64, recording 'numeric', 'nan' and 'finite' issues.

    Values that are present but cannot be read as numbers are 'numeric' errors and become NaN without also being
    reported as missing; genuinely missing cells are 'nan' errors.
    """
    raw = df[col]
    missing = raw.isna().to_numpy()
    if is_numeric_dtype(raw.dtype) and not is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if is_bool_dtype(raw.dtype):
            bad = ~missing
        else:
            bad = np.isnan(values) & ~missing
        if bad.any():
            sample = raw.iloc[_first(bad)[0]]
            issues.append(_issue("numeric", col, bad,
                                 f"{_count(bad)} not numeric (dtype {raw.dtype}, e.g. {sample!r})"))
            values = np.where(bad, np.nan, values)
    if missing.any():
        issues.append(_issue("nan", col, missing, f"{_count(missing)} missing (NaN)"))
    inf = np.isinf(values)
    if inf.any():
        issues.append(_issue("finite", col, inf, f"{_count(inf)} infinite"))
    return values


def _holds_timestamps(raw: pd.Series) -> bool:
    present = raw.dropna()
    return len(present) > 0 and isinstance(present.iloc[0], pd.Timestamp) and \
        bool(present.map(lambda v: isinstance(v, pd.Timestamp)).all())


def _timestamp_values(df: pd.DataFrame, issues: list[Issue]) -> np.ndarray | None:
    """The timestamp column as int64 UTC nanoseconds (NaT as int64 min), or None if it is not usable at all."""
    raw = df["timestamp"]
    dtype = raw.dtype
    if dtype == object and _holds_timestamps(raw):
        # pandas keeps Timestamps of different time zones (or naive and aware ones) in an object column.
        tzs = raw.map(lambda v: str(v.tz) if isinstance(v, pd.Timestamp) else "NaT")
        present = tzs[tzs != "NaT"]
        zones = sorted(set(present))
        if zones == ["None"]:
            raw = pd.to_datetime(raw)  # all naive: reported below
        elif "None" in zones:
            issues.append(_issue("timezone", "timestamp", (tzs == "None").to_numpy(),
                                 "timestamps mix naive and time-zone-aware values"))
            return None
        elif len(zones) > 1:
            mask = ((tzs != present.iloc[0]) & (tzs != "NaT")).to_numpy()
            issues.append(_issue("timezone", "timestamp", mask,
                                 f"timestamps mix time zones ({', '.join(zones)}); convert them to UTC"))
            return None
        else:
            raw = pd.to_datetime(raw, utc=True)
        dtype = raw.dtype
    if not is_datetime64_any_dtype(dtype):
        issues.append(_issue("datetime", "timestamp", np.ones(len(raw), bool),
                             f"timestamp column has dtype {dtype}, expected tz-aware datetimes"))
        return None
    if getattr(dtype, "tz", None) is None:
        issues.append(_issue("timezone", "timestamp", np.ones(len(raw), bool),
                             "timestamps are naive (no time zone); localize them, e.g. read with "
                             "tz='America/Chicago'"))
        return None
    idx = pd.DatetimeIndex(raw).tz_convert("UTC").as_unit("ns")
    values = idx.asi8
    nat = idx.isna()
    if nat.any():
        issues.append(_issue("nan", "timestamp", nat, f"{_count(nat)} missing (NaT)"))
    return values


def _order_checks(ts: np.ndarray, nat: np.ndarray, issues: list[Issue], *, allow_equal: bool) -> None:
    """'sorted' (a timestamp earlier than the one before) and, for bars, 'unique' (a repeated timestamp)."""
    valid = ts[~nat]
    pos = np.flatnonzero(~nat)
    if len(valid) < 2:
        return
    step = np.diff(valid)
    back = np.zeros(len(ts), bool)
    back[pos[1:][step < 0]] = True
    if back.any():
        issues.append(_issue("sorted", "timestamp", back,
                             f"{_count(back)} earlier than the previous timestamp; data must be oldest first"))
    if allow_equal:
        return
    if back.any():
        dup = pd.Series(ts).duplicated().to_numpy() & ~nat
    else:
        dup = np.zeros(len(ts), bool)
        dup[pos[1:][step == 0]] = True
    if dup.any():
        issues.append(_issue("unique", "timestamp", dup, f"{_count(dup)} repeat an earlier timestamp"))


def _gap_checks(ts: np.ndarray, nat: np.ndarray, gap_factor: float, calendar: SessionCalendar | None,
                issues: list[Issue]) -> None:
    """Warn about gaps not explained by the calendar and about bars stamped while the market is closed."""
    valid = ts[~nat]
    pos = np.flatnonzero(~nat)
    if len(valid) < 3:
        return
    step = np.diff(valid)
    if (step <= 0).any():  # ordering is already an error; gaps would be meaningless
        return
    median = float(np.median(step))
    if calendar is not None:
        index = pd.DatetimeIndex(valid.view("datetime64[ns]")).tz_localize("UTC")
        closed = ~calendar.is_open(index)
        if closed.any():
            mask = np.zeros(len(ts), bool)
            mask[pos[closed]] = True
            issues.append(_issue("session", "timestamp", mask,
                                 f"{_count(mask)} stamped while the {calendar.name} market is closed "
                                 "(halt or weekend); is the time zone right?", "warning"))
        open_step = np.diff(calendar.trading_clock(index))
        # The median uses open-market steps too, so weekends do not inflate it.
        median = float(np.median(open_step[open_step > 0])) if (open_step > 0).any() else median
    else:
        open_step = step
    gap = open_step > gap_factor * median
    if gap.any():
        mask = np.zeros(len(ts), bool)
        mask[pos[1:][gap]] = True
        longest = pd.Timedelta(int(open_step.max()), "ns")
        why = " of open-market time" if calendar is not None else ""
        issues.append(_issue("gap", "timestamp", mask,
                             f"gap{why} longer than {gap_factor:g} x the median bar interval "
                             f"{pd.Timedelta(int(median), 'ns')} before {_count(mask)} (longest {longest})", "warning"))


def _frame_checks(df, required: tuple[str, ...], kind: str, issues: list[Issue]) -> bool:
    """'columns' and 'empty'; False when nothing row-wise can be checked."""
    if not isinstance(df, pd.DataFrame):
        issues.append(_issue("columns", None, None, f"expected a pandas DataFrame of {kind}, got {type(df).__name__}"))
        return False
    cols = [str(c) for c in df.columns]
    if len(set(cols)) != len(cols):
        dupes = sorted({c for c in cols if cols.count(c) > 1})
        issues.append(_issue("columns", dupes[0], None, f"duplicate column names: {', '.join(dupes)}"))
        return False
    for col in required:
        if col not in df.columns:
            issues.append(_issue("columns", col, None,
                                 f"missing column '{col}' (found: {', '.join(cols) or 'none'})"))
    if len(df) == 0:
        issues.append(_issue("empty", None, None, f"no {kind}: the data has no rows"))
        return False
    return True


# ----------------------------------------------------------------------------------------------------- bars
def validate_bars(df: pd.DataFrame, min_bars: int = 0, gap_factor: float = 5.0,
                  calendar: SessionCalendar | str | None = None) -> list[Issue]:
    """Every problem of an OHLCV bar frame, errors first in column order, then warnings.

    Errors: ``columns``, ``empty``, ``min_bars``, ``datetime``, ``timezone``, ``numeric``, ``nan``, ``finite``,
    ``sorted``, ``unique``, ``high_low``, ``ohlc_range``, ``volume``. Warnings: ``gap`` (an interval longer than
    ``gap_factor`` x the median bar interval; with a ``calendar`` only open-market time counts, so the daily halt and
    weekends are not gaps) and ``session`` (bars stamped while the calendar says the market is closed).
    ``min_bars`` is the number of bars the caller needs, e.g. the pipeline's warm-up plus something to learn from.
    """
    calendar = get_calendar(calendar)
    issues: list[Issue] = []
    if not _frame_checks(df, BAR_COLUMNS, "bars", issues):
        return issues
    n = len(df)
    if n < min_bars:
        issues.append(_issue("min_bars", None, None,
                             f"{n} bars but at least {min_bars} are needed (warm-up windows plus data to learn from)"))
    ts = _timestamp_values(df, issues) if "timestamp" in df.columns else None
    values = {c: _numeric_values(df, c, issues) for c in PRICE_COLUMNS + ("volume",) if c in df.columns}
    if ts is not None:
        nat = ts == np.iinfo(np.int64).min
        _order_checks(ts, nat, issues, allow_equal=False)
    if "high" in values and "low" in values:
        bad = values["high"] < values["low"]
        if bad.any():
            issues.append(_issue("high_low", "high", bad, f"{_count(bad)} with high < low"))
        lo = np.fmin(values["low"], values["high"])
        hi = np.fmax(values["low"], values["high"])
        for col in ("open", "close"):
            if col in values:
                out = (values[col] < lo) | (values[col] > hi)
                if out.any():
                    issues.append(_issue("ohlc_range", col, out, f"{_count(out)} with {col} outside [low, high]"))
    if "volume" in values:
        neg = values["volume"] < 0
        if neg.any():
            issues.append(_issue("volume", "volume", neg, f"{_count(neg)} with negative volume"))
    if ts is not None:
        _gap_checks(ts, nat, gap_factor, calendar, issues)
    return _errors_first(issues)


def validate_ticks(df: pd.DataFrame, calendar: SessionCalendar | str | None = None) -> list[Issue]:
    """Every problem of a tick frame (``timestamp, price, volume``).

    Same checks as bars except that equal timestamps are allowed (several trades in one instant) and there is no
    OHLC check; with a ``calendar``, ticks while the market is closed are a ``session`` warning.
    """
    calendar = get_calendar(calendar)
    issues: list[Issue] = []
    if not _frame_checks(df, TICK_COLUMNS, "ticks", issues):
        return issues
    ts = _timestamp_values(df, issues) if "timestamp" in df.columns else None
    values = {c: _numeric_values(df, c, issues) for c in ("price", "volume") if c in df.columns}
    if ts is not None:
        nat = ts == np.iinfo(np.int64).min
        _order_checks(ts, nat, issues, allow_equal=True)
        if calendar is not None and (~nat).any():
            idx = pd.DatetimeIndex(ts[~nat].view("datetime64[ns]")).tz_localize("UTC")
            closed = np.zeros(len(ts), bool)
            closed[np.flatnonzero(~nat)] = ~calendar.is_open(idx)
            if closed.any():
                issues.append(_issue("session", "timestamp", closed,
                                     f"{_count(closed)} stamped while the {calendar.name} market is closed",
                                     "warning"))
    if "volume" in values:
        neg = values["volume"] < 0
        if neg.any():
            issues.append(_issue("volume", "volume", neg, f"{_count(neg)} with negative volume"))
    return _errors_first(issues)


# ----------------------------------------------------------------------------------------------------- raising
def _errors_first(issues: list[Issue]) -> list[Issue]:
    return sorted(issues, key=lambda i: i.severity != "error")  # stable: keeps column order within each group


def _raise_or_warn(issues: list[Issue]) -> list[Issue]:
    if any(i.severity == "error" for i in issues):
        raise DataValidationError(issues)
    for w in issues:
        log.warning("data warning %s", w.one_line())
    return issues


def check_bars(df: pd.DataFrame, **kwargs) -> list[Issue]:
    """Raise :class:`DataValidationError` if the bars have any error; else return (and log) the warnings."""
    return _raise_or_warn(validate_bars(df, **kwargs))


def check_ticks(df: pd.DataFrame, **kwargs) -> list[Issue]:
    """Raise :class:`DataValidationError` if the ticks have any error; else return (and log) the warnings."""
    return _raise_or_warn(validate_ticks(df, **kwargs))
