"""Checks of bar and tick frames: the one implementation behind file, pipeline and serving-time checks.

``validate_bars`` / ``validate_ticks`` return a list of :class:`~factory.errors.Issue`, one per failed check and column,
each naming the first offending row positions (0-based, at most
:data:`factory.data.timestamps.MAX_ROWS`). They never raise for data problems.
``check_bars`` / ``check_ticks`` raise :class:`~factory.errors.DataValidationError` when any issue is an error and
otherwise return (and log) the warnings. :func:`inspect_bars` also returns how many rows each issue concerns and the
bars normalised (what a served model computes on). Every check is a handful of vectorised NumPy operations, so a
million bars validate in a fraction of a second.

``mode="strict"`` (the default) checks a pipeline frame, whose timestamps are already datetimes (``read_bars``
parses files) with explicit time zones. ``mode="serving"`` checks a served model's request: timestamps may arrive as
text or epochs in any zone (see :mod:`factory.data.timestamps`), numbers must be numbers (not text), ``first_error``
stops at the first problem and ``max_rows`` bounds the request. Everything else is the same code in both modes.
"""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from factory.data.sessions import SessionCalendar, get_calendar
from factory.data.timestamps import (
    DATETIME_KINDS,
    NAT,
    check_mode,
    column_kind,
    count_rows,
    first_rows,
    read_timestamps,
)
from factory.errors import DataValidationError, Issue

log = logging.getLogger(__name__)

BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
TICK_COLUMNS = ("timestamp", "price", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")
# Largest price or volume accepted (exclusive): no market quotes more, and the features' rolling sums and products of
# such values would overflow. Prices must also be positive, because the features take their logarithms.
MAX_VALUE = 1e15
# The environment variable that sets a served model's request limit (``max_rows``), named in the ``rows`` message.
MAX_ROWS_ENV = "FACTORY_MAX_ROWS"
# Object columns of real numbers only, as pandas classifies them in C (anything else is checked value by value).
_REAL_NUMBERS = ("integer", "floating", "mixed-integer-float", "empty")


@dataclass(frozen=True)
class _Rules:
    """What differs between a pipeline frame's checks and a served request's; everything else is shared."""

    mode: str
    parse_timestamps: bool   # a request's timestamps arrive as text or epochs; a pipeline frame holds datetimes
    numbers_as_text: bool    # a CSV column with one bad cell is read as text, yet its numbers count; JSON has numbers
    not_a_frame: str         # check name for an input that is not a DataFrame (each mode keeps its word)
    min_bars: str            # message templates, each in its audience's words
    rows: str


_RULES = {
    "strict": _Rules("strict", parse_timestamps=False, numbers_as_text=True, not_a_frame="columns",
                     min_bars="{n} bars but at least {need} are needed (warm-up windows plus data to learn from)",
                     rows="{n} bars exceed the limit of {limit}"),
    "serving": _Rules("serving", parse_timestamps=True, numbers_as_text=False, not_a_frame="type",
                      min_bars="{n} bars but the model needs at least {need} (feature and regime warm-up); "
                               "send more history, oldest first",
                      rows="{n} bars exceed the limit of {limit} per request (" + MAX_ROWS_ENV + "); "
                           "send only the recent history the model needs"),
}


def _rules(mode: str) -> _Rules:
    return _RULES[check_mode(mode)]


# ----------------------------------------------------------------------------------------------------- findings
class _Stop(Exception):
    """Ends the checks at the first error when that is all the caller needs (a served request)."""


class _Findings:
    """Issues in the order found, with the number of rows each concerns (``Issue.rows`` keeps only a few)."""

    def __init__(self, first_error: bool):
        self.issues: list[Issue] = []
        self.counts: list[int] = []
        self._first_error = first_error

    def add(self, check: str, column: str | None, mask: np.ndarray | None, message: str,
            severity: str = "error") -> None:
        self.issues.append(Issue(check=check, column=column, rows=first_rows(mask), message=message, severity=severity))
        self.counts.append(0 if mask is None else int(np.count_nonzero(mask)))
        if self._first_error and severity == "error":
            raise _Stop

    def rows(self, check: str, column: str | None, mask: np.ndarray, template: str, severity: str = "error") -> None:
        """Add an issue if any row is flagged; ``{rows}`` in the template becomes e.g. '3 rows'."""
        if mask.any():
            self.add(check, column, mask, template.format(rows=count_rows(mask)), severity)

    def timestamp_report(self, check: str, mask: np.ndarray | None, message: str) -> None:
        self.add(check, "timestamp", mask, message)


@dataclass(frozen=True)
class BarReport:
    """What :func:`inspect_bars` found: issues (errors first) with the number of rows each concerns."""

    issues: list[Issue]
    counts: list[int]
    _timestamps: np.ndarray | None = field(default=None, repr=False)
    _values: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def errors(self) -> list[tuple[Issue, int]]:
        return [(i, n) for i, n in zip(self.issues, self.counts) if i.severity == "error"]

    def bars(self) -> pd.DataFrame:
        """The bars normalised: ``timestamp`` as UTC datetime64[ns], OHLCV as float64, a fresh RangeIndex."""
        if self.errors or self._timestamps is None:
            raise DataValidationError(self.issues)
        # One constructor call: inserting columns one by one costs more than the checks themselves.
        return pd.DataFrame({"timestamp": pd.DatetimeIndex(self._timestamps.view("datetime64[ns]")).tz_localize("UTC"),
                             **self._values})


# ----------------------------------------------------------------------------------------------------- columns
def _as_float(raw: pd.Series, rules: _Rules) -> tuple[np.ndarray, np.ndarray | None]:
    """The column as float64 and the mask of cells present but not numbers (which become NaN), None if none is."""
    dtype = raw.dtype
    if is_bool_dtype(dtype):  # NumPy would read True/False as 1/0, which no price or volume means
        return np.full(len(raw), np.nan), ~raw.isna().to_numpy()
    if is_numeric_dtype(dtype):
        # na_value only matters for nullable extension dtypes; NumPy floats already hold NaN, and are read faster.
        na = {} if isinstance(dtype, np.dtype) else {"na_value": np.nan}
        return raw.to_numpy(dtype=np.float64, **na), None
    if not rules.numbers_as_text and pd.api.types.infer_dtype(raw, skipna=True) in _REAL_NUMBERS:
        return raw.to_numpy(dtype=np.float64, na_value=np.nan), None
    missing = raw.isna().to_numpy()
    if rules.numbers_as_text:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isnan(values) & ~missing
    else:
        real = raw.map(lambda v: isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)))
        bad = ~real.to_numpy(dtype=bool) & ~missing
        values = raw.where(~bad).to_numpy(dtype=np.float64, na_value=np.nan)
    values[bad] = np.nan
    return values, bad


def _column(raw: pd.Series, col: str, rules: _Rules, found: _Findings, *, price: bool) -> np.ndarray:
    """The column as float64, after 'numeric', 'nan', 'finite', 'magnitude' and (prices) 'price' checks.

    Values that are present but not numbers are 'numeric' errors and become NaN without also being reported as
    missing; genuinely missing cells are 'nan' errors.
    """
    values, bad = _as_float(raw, rules)
    missing = np.isnan(values)
    if bad is not None and bad.any():
        sample = raw.iloc[int(np.argmax(bad))]
        sample = sample.item() if isinstance(sample, np.generic) else sample  # True, not np.True_
        found.add("numeric", col, bad, f"{count_rows(bad)} not numeric (dtype {raw.dtype}, e.g. {sample!r})")
        missing &= ~bad
    found.rows("nan", col, missing, "{rows} missing (NaN)")
    big = np.abs(values) >= MAX_VALUE
    if big.any():  # both checks at once: this runs on every served request, and infinities are rare
        inf = np.isinf(values)
        found.rows("finite", col, inf, "{rows} infinite")
        found.rows("magnitude", col, big & ~inf, "{rows} of 1e15 or more (prices and volumes must be below 1e15)")
    if price:
        found.rows("price", col, values <= 0, "{rows} not positive (prices must be above zero)")
    return values


def _timestamps(raw: pd.Series, rules: _Rules, found: _Findings, *, allow_equal: bool) -> np.ndarray | None:
    """The timestamp column as int64 UTC nanoseconds (NaT as int64 min), or None if it is not usable at all."""
    if not rules.parse_timestamps and column_kind(raw) not in DATETIME_KINDS:
        # Text here means the frame skipped read_bars, which parses files with their time-zone rules.
        found.add("datetime", "timestamp", np.ones(len(raw), bool),
                  f"timestamp column has dtype {raw.dtype}, expected tz-aware datetimes")
        return None
    ts = read_timestamps(raw, found.timestamp_report, mode=rules.mode).asi8
    _order_checks(ts, found, allow_equal=allow_equal)
    return ts


def _order_checks(ts: np.ndarray, found: _Findings, *, allow_equal: bool) -> None:
    """'sorted' (a timestamp earlier than the one before) and, for bars, 'unique' (a repeated timestamp)."""
    nat = ts == NAT
    pos = np.flatnonzero(~nat)
    if len(pos) < 2:
        return
    step = np.diff(ts[pos])
    back = _at(pos[1:][step < 0], len(ts))
    found.rows("sorted", "timestamp", back, "{rows} earlier than the previous timestamp; data must be oldest first")
    if allow_equal:
        return
    # Once rows are out of order, a repeat need not follow its twin.
    dup = pd.Series(ts).duplicated().to_numpy() & ~nat if back.any() else _at(pos[1:][step == 0], len(ts))
    found.rows("unique", "timestamp", dup, "{rows} repeating an earlier timestamp")


def _at(rows: np.ndarray, n: int) -> np.ndarray:
    mask = np.zeros(n, bool)
    mask[rows] = True
    return mask


def _gap_checks(ts: np.ndarray, gap_factor: float, calendar: SessionCalendar | None, found: _Findings) -> None:
    """Warn about gaps not explained by the calendar and about bars stamped while the market is closed."""
    nat = ts == NAT
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
        closed = np.zeros(len(ts), bool)
        closed[pos] = ~calendar.is_open(index)
        found.rows("session", "timestamp", closed, f"{{rows}} stamped while the {calendar.name} market is closed "
                                                   "(halt or weekend); is the time zone right?", "warning")
        open_step = np.diff(calendar.trading_clock(index))
        # The median uses open-market steps too, so weekends do not inflate it.
        median = float(np.median(open_step[open_step > 0])) if (open_step > 0).any() else median
    else:
        open_step = step
    gap = _at(pos[1:][open_step > gap_factor * median], len(ts))
    if gap.any():
        longest = pd.Timedelta(int(open_step.max()), "ns")
        why = " of open-market time" if calendar is not None else ""
        found.add("gap", "timestamp", gap, f"gap{why} longer than {gap_factor:g} x the median bar interval "
                                           f"{pd.Timedelta(int(median), 'ns')} before {count_rows(gap)} "
                                           f"(longest {longest})", "warning")


def _frame_checks(df, required: tuple[str, ...], kind: str, rules: _Rules, found: _Findings, *,
                  min_bars: int = 0, max_rows: int | None = None) -> tuple[str, ...]:
    """'columns', 'rows', 'empty' and 'min_bars'; the required columns present, none when no row can be checked."""
    if not isinstance(df, pd.DataFrame):
        found.add(rules.not_a_frame, None, None, f"expected a pandas DataFrame of {kind}, got {type(df).__name__}")
        return ()
    cols = [str(c) for c in df.columns]
    if len(set(cols)) != len(cols):
        dupes = sorted({c for c in cols if cols.count(c) > 1})
        found.add("columns", dupes[0], None, f"duplicate column names: {', '.join(dupes)}")
        return ()
    # By name: "x" in a MultiIndex would match a whole level.
    present = tuple(c for c in required if c in cols)
    for col in required:
        if col not in present:
            found.add("columns", col, None, f"missing column '{col}' (need {', '.join(required)}; "
                                            f"found: {', '.join(cols) or 'none'})")
    n = len(df)
    if max_rows is not None and n > max_rows:
        found.add("rows", None, None, rules.rows.format(n=n, limit=max_rows))
    if n == 0:
        found.add("empty", None, None, f"no {kind}: the data has no rows")
        return ()
    if n < min_bars:
        found.add("min_bars", None, None, rules.min_bars.format(n=n, need=min_bars))
    return present


def _volume_check(values: dict[str, np.ndarray], found: _Findings) -> None:
    if "volume" in values:
        found.rows("volume", "volume", values["volume"] < 0, "{rows} with negative volume")


# ----------------------------------------------------------------------------------------------------- bars
def _bar_checks(df, rules: _Rules, found: _Findings, *, min_bars: int, max_rows: int | None,
                gap_factor: float | None, calendar: SessionCalendar | None) -> tuple[np.ndarray | None, dict]:
    present = _frame_checks(df, BAR_COLUMNS, "bars", rules, found, min_bars=min_bars, max_rows=max_rows)
    if not present:
        return None, {}
    ts = _timestamps(df["timestamp"], rules, found, allow_equal=False) if "timestamp" in present else None
    values = {c: _column(df[c], c, rules, found, price=c in PRICE_COLUMNS) for c in present if c != "timestamp"}
    if "high" in values and "low" in values:
        found.rows("high_low", "high", values["high"] < values["low"], "{rows} with high < low")
        lo = np.fmin(values["low"], values["high"])
        hi = np.fmax(values["low"], values["high"])
        for col in ("open", "close"):
            if col in values:
                found.rows("ohlc_range", col, (values[col] < lo) | (values[col] > hi),
                           "{rows} with " + col + " outside [low, high]")
    _volume_check(values, found)
    if ts is not None and gap_factor is not None:
        _gap_checks(ts, gap_factor, calendar, found)
    return ts, values


def inspect_bars(df: pd.DataFrame, min_bars: int = 0, gap_factor: float | None = 5.0,
                 calendar: SessionCalendar | str | None = None, *, mode: str = "strict",
                 max_rows: int | None = None, first_error: bool = False) -> BarReport:
    """:func:`validate_bars` plus each issue's row count and, when there is no error, the normalised bars.

    ``first_error=True`` stops at the first error (a served request only reports that one).
    """
    rules = _rules(mode)
    calendar = get_calendar(calendar)
    found = _Findings(first_error)
    ts, values = None, {}
    try:
        ts, values = _bar_checks(df, rules, found, min_bars=min_bars, max_rows=max_rows, gap_factor=gap_factor,
                                 calendar=calendar)
    except _Stop:
        pass
    issues, counts = _errors_first(found)
    return BarReport(issues, counts, ts, values)


def validate_bars(df: pd.DataFrame, min_bars: int = 0, gap_factor: float | None = 5.0,
                  calendar: SessionCalendar | str | None = None, *, mode: str = "strict",
                  max_rows: int | None = None, first_error: bool = False) -> list[Issue]:
    """Every problem of an OHLCV bar frame, errors first, then warnings.

    Errors: ``columns``, ``rows`` (more than ``max_rows``), ``empty``, ``min_bars``, ``datetime`` / ``timezone`` /
    ``nan`` of the timestamps (``timestamp`` in serving mode), ``sorted``, ``unique``, then for each column
    ``numeric``, ``nan``, ``finite``, ``magnitude`` (1e15 or more) and ``price`` (not positive), then ``high_low``,
    ``ohlc_range``, ``volume``. Warnings: ``gap`` (an interval longer than ``gap_factor`` x the median bar interval;
    with a ``calendar`` only open-market time counts, so the daily halt and weekends are not gaps; ``None`` turns the
    check off) and ``session`` (bars stamped while the calendar says the market is closed). ``min_bars`` is the
    number of bars the caller needs, e.g. the pipeline's warm-up plus something to learn from. See the module
    docstring for ``mode``, ``max_rows`` and ``first_error``.
    """
    return inspect_bars(df, min_bars, gap_factor, calendar, mode=mode, max_rows=max_rows,
                        first_error=first_error).issues


def validate_ticks(df: pd.DataFrame, calendar: SessionCalendar | str | None = None) -> list[Issue]:
    """Every problem of a tick frame (``timestamp, price, volume``).

    Same checks as bars except that equal timestamps are allowed (several trades in one instant) and there is no
    OHLC check; with a ``calendar``, ticks while the market is closed are a ``session`` warning.
    """
    calendar = get_calendar(calendar)
    rules = _rules("strict")
    found = _Findings(first_error=False)
    present = _frame_checks(df, TICK_COLUMNS, "ticks", rules, found)
    if not present:
        return found.issues
    ts = _timestamps(df["timestamp"], rules, found, allow_equal=True) if "timestamp" in present else None
    values = {c: _column(df[c], c, rules, found, price=c == "price") for c in present if c != "timestamp"}
    if ts is not None and calendar is not None:
        nat = ts == NAT
        if (~nat).any():
            closed = np.zeros(len(ts), bool)
            closed[~nat] = ~calendar.is_open(pd.DatetimeIndex(ts[~nat].view("datetime64[ns]")).tz_localize("UTC"))
            found.rows("session", "timestamp", closed,
                       f"{{rows}} stamped while the {calendar.name} market is closed", "warning")
    _volume_check(values, found)
    return _errors_first(found)[0]


# ----------------------------------------------------------------------------------------------------- raising
def _errors_first(found: _Findings) -> tuple[list[Issue], list[int]]:
    # Stable: keeps the order of the checks within each group.
    order = sorted(range(len(found.issues)), key=lambda k: found.issues[k].severity != "error")
    return [found.issues[k] for k in order], [found.counts[k] for k in order]


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
