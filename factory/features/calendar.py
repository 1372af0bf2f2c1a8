"""Time and session features in exchange local time (CME Globex equity futures by default).

The Globex equity session opens at 17:00 America/Chicago, halts daily 16:00-17:00 and closes for the weekend
from Friday 16:00 to Sunday 17:00; a session is named by the local date on which it opened. Local time
comes from the IANA time-zone rules, so daylight-saving shifts are handled. With m the local minute of day
(fractional), d the weekday (Monday = 0) and the session opening at minute m0:

* ``tod_sin`` / ``tod_cos``   = sin / cos(2 pi m / 1440)
* ``dow_sin`` / ``dow_cos``   = sin / cos(2 pi d / 7)
* ``week_sin`` / ``week_cos`` = sin / cos(2 pi u / 10080), u the minutes since the weekly open (Sunday m0)
* ``year_sin`` / ``year_cos`` = sin / cos(2 pi (UTC day of year) / 365.2425)
* ``hour``, ``day_of_week``  = local hour (0-23) and d
* ``session_minutes``        = (m - m0) mod 1440, minutes since the session opened
* ``bars_since_open``        = bars since the first bar of the current session (0 on it), at most
  S - 1 with S = ``session_length / bar_freq`` the most bars a session holds
* ``is_rth``                 = 1 inside regular trading hours (08:30-15:00 local, Monday-Friday), else 0
* ``gap_log``                = ln(minutes since the previous bar / bar length): 0 for consecutive bars

All depend on the bar's own timestamp and on earlier ones only, and on at most S - 1 earlier bars: the session
a bar belongs to is known once the boundary before its first bar is in view, or once S bars of it are (then the
session began at least S - 1 bars back, and features anchored on its open use the last S bars). Before either,
the session-anchored values are NaN: a request that starts mid-session cannot know when the session opened.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.features._context import BarContext
from factory.features.config import FeatureConfig, clock_minutes

_NS_MIN = 60_000_000_000
_NS_DAY = 1440 * _NS_MIN

NAMES = [
    "tod_sin", "tod_cos", "dow_sin", "dow_cos", "week_sin", "week_cos", "year_sin", "year_cos",
    "hour", "day_of_week", "session_minutes", "bars_since_open", "is_rth", "gap_log",
]  # fmt: skip


def names(cfg: FeatureConfig) -> list[str]:
    return list(NAMES)


def lookback(cfg: FeatureConfig) -> int:
    return max(1, cfg.session_bars - 1)  # gap_log needs the previous bar


def local_ns(ctx: BarContext) -> np.ndarray:
    """Local wall-clock time of each bar as int64 nanoseconds (naive epoch in the exchange time zone)."""

    def build():
        idx = pd.DatetimeIndex(ctx.ts_ns.view("datetime64[ns]")).tz_localize("UTC")
        return idx.tz_convert(ctx.config.session_tz).tz_localize(None).asi8

    return ctx._memo(("local_ns",), build)


def session_window_starts(ctx: BarContext) -> np.ndarray:
    """First row of each bar's session-anchored window, or -1 where it cannot be known.

    A session starts at the local open time. The window of bar t starts at its session's first bar, but never
    more than S - 1 bars back (S = ``config.session_bars``). The first bar of the data is never taken for a
    session start (the data may begin mid-session), so until a session boundary is in view the start is
    unknown (-1), except from row S - 1 on, where the window is the last S bars either way.
    """

    def build():
        open_ns = clock_minutes(ctx.config.session_open) * _NS_MIN
        key = (local_ns(ctx) - open_ns) // _NS_DAY
        rows = np.arange(key.shape[0])
        start = np.full(key.shape[0], -1, dtype=np.int64)
        new = np.flatnonzero(key[1:] != key[:-1]) + 1
        start[new] = new
        np.maximum.accumulate(start, out=start)
        start = np.maximum(start, rows - (ctx.config.session_bars - 1))
        start[start < 0] = -1
        return start

    return ctx._memo(("session_start",), build)


def compute(ctx: BarContext, put) -> None:
    cfg = ctx.config
    loc = local_ns(ctx)
    days = loc // _NS_DAY
    m = (loc - days * _NS_DAY) / _NS_MIN  # local minute of day, fractional
    dow = (days + 3) % 7  # 1970-01-01 was a Thursday
    m0 = clock_minutes(cfg.session_open)
    two_pi = 2.0 * np.pi

    a = two_pi * m / 1440.0
    put("tod_sin", np.sin(a))
    put("tod_cos", np.cos(a))
    a = two_pi * dow / 7.0
    put("dow_sin", np.sin(a))
    put("dow_cos", np.cos(a))
    week_min = ((dow - 6) % 7) * 1440.0 + m - m0  # minutes since Sunday at the open time
    a = two_pi * np.mod(week_min, 10080.0) / 10080.0
    put("week_sin", np.sin(a))
    put("week_cos", np.cos(a))
    a = two_pi * np.mod(ctx.ts_ns // _NS_DAY, 365.2425) / 365.2425
    put("year_sin", np.sin(a))
    put("year_cos", np.cos(a))
    del a
    put("hour", np.floor(m / 60.0))
    put("day_of_week", dow.astype(np.float64))
    put("session_minutes", np.mod(m - m0, 1440.0))
    start = session_window_starts(ctx)
    put("bars_since_open", np.where(start >= 0, np.arange(ctx.n) - start, np.nan).astype(np.float64))
    r0, r1 = (clock_minutes(x) for x in cfg.rth)
    put("is_rth", ((dow < 5) & (m >= r0) & (m < r1)).astype(np.float64))
    gap = np.full(ctx.n, np.nan)
    bar_ns = pd.Timedelta(cfg.bar_freq).value
    gap[1:] = np.log(np.maximum(np.diff(ctx.ts_ns) / bar_ns, 1e-6))
    put("gap_log", gap)
