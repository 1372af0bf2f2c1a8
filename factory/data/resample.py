"""Deterministic aggregation of ticks or fine bars into time bars, volume bars and dollar bars.

Time bars are left-closed and left-labelled: the bar labelled ``t`` aggregates the rows with ``t <= timestamp <
t + freq``. OHLC come from the first open / highest high / lowest low / last close (or from the tick prices), volume
is summed, and an interval without rows produces no bar. Bins are aligned to the Unix epoch, or, with a session
``calendar``, to each session's open: a 60-minute bar then runs 17:00-18:00 Chicago and never spans the daily halt or
the weekend. Rows stamped while the calendar is closed are an error (``on_closed="error"``, the default) or dropped
(``on_closed="drop"``); either way no bar is ever created inside a halt. When ``freq`` does not divide the 23-hour
session the last bar of each session is shorter, ending at the close. With a calendar, ``freq`` of 23 hours up to
one day gives one bar per session, labelled with the session open.

Only fixed-duration frequencies (``"30s"``, ``"5min"``, ``"1h"``, ``"1D"``...) are supported; calendar offsets such as
``"W"`` or ``"ME"`` have no fixed length and are rejected.

Volume and dollar bars follow Lopez de Prado (*Advances in Financial Machine Learning*, ch. 2): rows are accumulated
until the running volume (or price x volume x multiplier) reaches ``threshold``; that row closes the bar and the
running sum restarts at zero (overshoot is not carried over). The bar is labelled with the timestamp of its first row;
``last_timestamp`` says when the bar was complete, which is when it may first be used.

Everything here is NumPy reductions over sorted group boundaries plus one small compiled loop for the threshold bars,
so the same input always gives bit-identical output. ``DataFrame.resample`` is not used because its bin origin
depends on the first row of the data (``origin="start_day"``) and it cannot align bins to session opens that move
with daylight saving; labelling rows first and reducing runs of equal labels does both and is faster.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from factory.data.sessions import SessionCalendar, freq_to_ns, get_calendar
from factory.data.validation import validate_bars, validate_ticks
from factory.errors import ConfigError, DataValidationError, Issue

_DAY_NS = 24 * 3600 * 10**9


def _require(issues: list[Issue]) -> None:
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise DataValidationError(errors)


def _utc_ns(ts: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(ts).tz_convert("UTC").as_unit("ns").asi8


def _open_rows(ts_ns: np.ndarray, calendar: SessionCalendar, on_closed: str) -> np.ndarray:
    """Mask of rows to keep under the calendar (raises for closed rows when on_closed='error')."""
    if on_closed not in ("error", "drop"):
        raise ConfigError(f"on_closed must be 'error' or 'drop', not {on_closed!r}")
    is_open = calendar.is_open(ts_ns.view("datetime64[ns]"))
    if on_closed == "error" and not is_open.all():
        closed = np.flatnonzero(~is_open)
        raise DataValidationError([Issue(
            "session", "timestamp", tuple(int(i) for i in closed[:5]),
            f"{len(closed)} rows stamped while the {calendar.name} market is closed (daily halt or weekend); "
            "fix the time zone or pass on_closed='drop'")])
    return is_open


def _bin_labels(ts_ns: np.ndarray, freq, calendar: SessionCalendar | None) -> np.ndarray:
    """Left edge (UTC ns) of the time bin of each (open-market) timestamp."""
    width = freq_to_ns(freq)
    if calendar is None:
        return np.floor_divide(ts_ns, width) * width
    start = calendar.session_start(ts_ns.view("datetime64[ns]")).asi8
    session_ns = int(calendar.session_length.value)
    if width >= session_ns:
        if width > _DAY_NS:
            raise ConfigError(f"with a session calendar, freq '{freq}' may be at most one day (one bar per session)")
        return start
    return start + np.floor_divide(ts_ns - start, width) * width


def _aggregate(labels: np.ndarray, o, h, l, c, v) -> pd.DataFrame:
    """One bar per run of equal labels (labels must be non-decreasing)."""
    n = len(labels)
    if n == 0:
        return _empty_bars()
    first = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    last = np.r_[first[1:] - 1, n - 1]
    return pd.DataFrame({
        "timestamp": pd.DatetimeIndex(labels[first].view("datetime64[ns]")).tz_localize("UTC"),
        "open": o[first],
        "high": np.maximum.reduceat(h, first),
        "low": np.minimum.reduceat(l, first),
        "close": c[last],
        "volume": np.add.reduceat(v, first),
    })


def _empty_bars() -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.DatetimeIndex([], tz="UTC").as_unit("ns"),
                         **{c: np.empty(0) for c in ("open", "high", "low", "close", "volume")}})


def _f64(df: pd.DataFrame, col: str) -> np.ndarray:
    return df[col].to_numpy(dtype=np.float64)


def resample_bars(bars: pd.DataFrame, freq, calendar: SessionCalendar | str | None = None,
                  on_closed: str = "error") -> pd.DataFrame:
    """Aggregate bars into coarser time bars (see the module docstring for alignment and halts)."""
    calendar = get_calendar(calendar)
    _require(validate_bars(bars))
    ts = _utc_ns(bars["timestamp"])
    cols = [_f64(bars, c) for c in ("open", "high", "low", "close", "volume")]
    if calendar is not None:
        keep = _open_rows(ts, calendar, on_closed)
        ts, cols = ts[keep], [x[keep] for x in cols]
    return _aggregate(_bin_labels(ts, freq, calendar), *cols)


def resample_ticks(ticks: pd.DataFrame, freq, calendar: SessionCalendar | str | None = None,
                   on_closed: str = "error") -> pd.DataFrame:
    """Aggregate ticks (``timestamp, price, volume``, oldest first; equal timestamps keep file order) into bars."""
    calendar = get_calendar(calendar)
    _require(validate_ticks(ticks))
    ts = _utc_ns(ticks["timestamp"])
    price, vol = _f64(ticks, "price"), _f64(ticks, "volume")
    if calendar is not None:
        keep = _open_rows(ts, calendar, on_closed)
        ts, price, vol = ts[keep], price[keep], vol[keep]
    return _aggregate(_bin_labels(ts, freq, calendar), price, price, price, price, vol)


# ----------------------------------------------------------------------------------------------- threshold bars
@njit(cache=True)
def _threshold_ends(amount: np.ndarray, threshold: float) -> np.ndarray:
    """Index of the row that closes each bar: the running sum restarts after reaching the threshold.

    A compiled loop because the restart makes each bar depend on where the previous one ended, which a single
    cumulative sum cannot express without carrying the overshoot.
    """
    ends = np.empty(amount.shape[0], dtype=np.int64)
    k = 0
    acc = 0.0
    for i in range(amount.shape[0]):
        acc += amount[i]
        if acc >= threshold:
            ends[k] = i
            k += 1
            acc = 0.0
    return ends[:k]


def _threshold_bars(df: pd.DataFrame, amount_of, threshold: float, keep_partial: bool) -> pd.DataFrame:
    if not np.isfinite(threshold) or threshold <= 0:
        raise ConfigError(f"threshold must be a positive number, got {threshold}")
    if "price" in df.columns:
        _require(validate_ticks(df))
        p = _f64(df, "price")
        o = h = l = c = p
    else:
        _require(validate_bars(df))
        o, h, l, c = (_f64(df, col) for col in ("open", "high", "low", "close"))
    v = _f64(df, "volume")
    ts = _utc_ns(df["timestamp"])
    ends = _threshold_ends(np.ascontiguousarray(amount_of(c, v), dtype=np.float64), float(threshold))
    if keep_partial and len(ts) and (len(ends) == 0 or ends[-1] < len(ts) - 1):
        ends = np.r_[ends, len(ts) - 1]
    if len(ends) == 0:
        out = _empty_bars()
        out["last_timestamp"] = out["timestamp"]
        return out
    first = np.r_[0, ends[:-1] + 1]
    used = slice(0, int(ends[-1]) + 1)  # reduceat runs its last group to the end: leave out the unfinished rows
    utc = lambda x: pd.DatetimeIndex(x.view("datetime64[ns]")).tz_localize("UTC")  # noqa: E731
    return pd.DataFrame({
        "timestamp": utc(ts[first]),
        "open": o[first],
        "high": np.maximum.reduceat(h[used], first),
        "low": np.minimum.reduceat(l[used], first),
        "close": c[ends],
        "volume": np.add.reduceat(v[used], first),
        "last_timestamp": utc(ts[ends]),
    })


def volume_bars(df: pd.DataFrame, threshold: float, keep_partial: bool = False) -> pd.DataFrame:
    """Bars that each hold at least ``threshold`` contracts, from ticks (``price`` column) or finer bars.

    The trailing rows that have not reached the threshold yet are dropped unless ``keep_partial``.
    """
    return _threshold_bars(df, lambda price, vol: vol, threshold, keep_partial)


def dollar_bars(df: pd.DataFrame, threshold: float, multiplier: float = 1.0,
                keep_partial: bool = False) -> pd.DataFrame:
    """Bars that each trade at least ``threshold`` of value: price x volume x ``multiplier`` summed.

    For ticks the price is the trade price; for finer bars it is the bar's close. Use the contract's point value as
    ``multiplier`` (e.g. 5.0 for MES) to measure notional in USD.
    """
    if not np.isfinite(multiplier) or multiplier <= 0:
        raise ConfigError(f"multiplier must be a positive number, got {multiplier}")
    return _threshold_bars(df, lambda price, vol: price * vol * multiplier, threshold, keep_partial)
