"""CME Globex trading calendar: when a futures session is open, and which session a timestamp belongs to.

CME Globex equity index futures (MES, ES, ...) and COMEX metals (MGC, GC, ...) trade from Sunday 17:00 to Friday 16:00
America/Chicago with a daily one-hour halt from 16:00 to 17:00 Monday to Thursday. A *session* opens at 17:00 Chicago
on day D and closes at 16:00 on day D + 1; its *trading date* (``session_id``) is D + 1, so the Sunday-evening session
belongs to Monday. Exchange holidays and early closes are ignored: a holiday looks like an ordinary session without
data, and a gap check will report it as a gap.

Every method is vectorised over timestamps. The trick that keeps it cheap: shifting Chicago wall-clock time by +7 hours
moves the 17:00 open to midnight, so the shifted calendar date *is* the trading date, the shifted time of day is the
time since the open (0 h to 23 h open, 23 h to 24 h halt) and Saturday/Sunday of the shifted date are closed. Daylight
saving switches happen at 02:00 on a Sunday, inside the weekend closure, so no session ever spans one and wall-clock
durations inside a session equal real durations.

A library such as ``exchange_calendars`` would know holidays too, but it is not a dependency of this project and its
minute-level API is far slower than the arithmetic above.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import numpy as np
import pandas as pd

from factory.errors import ConfigError

_NS_PER_MIN = 60 * 1_000_000_000
_NS_PER_DAY = 24 * 60 * _NS_PER_MIN
# 1970-01-01 was a Thursday; shifting by 3 days makes day-number // 7 count Monday-based weeks.
_EPOCH_WEEKDAY = 3


@dataclass(frozen=True)
class SessionCalendar:
    """A weekly futures schedule: sessions open every ``open_time`` and last ``session_hours``.

    Sessions open on the evening before each trading date Monday..Friday (so Sunday..Thursday evenings) and close
    ``session_hours`` later; the rest of the day is a halt and Friday close to Sunday open is the weekend.

    Inputs of every method are UTC timestamps: a :class:`pandas.DatetimeIndex`, a Series of datetimes, a NumPy
    ``datetime64`` array or a scalar. Tz-aware inputs are converted to UTC; naive values are taken as UTC.
    """

    name: str
    tz: str = "America/Chicago"
    open_time: time = time(17, 0)
    session_hours: int = 23

    # ----------------------------------------------------------------------------------------------- internals
    @property
    def session_length(self) -> pd.Timedelta:
        return pd.Timedelta(hours=self.session_hours)

    @property
    def _shift_ns(self) -> int:
        """Nanoseconds to add to local wall-clock time so that the session open falls on midnight."""
        open_ns = (self.open_time.hour * 60 + self.open_time.minute) * _NS_PER_MIN
        return _NS_PER_DAY - open_ns if open_ns else 0

    def _utc_ns(self, ts) -> np.ndarray:
        return _as_utc_index(ts).asi8

    def _decompose(self, ts):
        """(utc ns, trading-date day number, ns since open, is_open) for each timestamp.

        NaT inputs come out closed.
        """
        idx = _as_utc_index(ts)
        utc = idx.asi8
        local = idx.tz_convert(self.tz).tz_localize(None).asi8 + self._shift_ns
        day = np.floor_divide(local, _NS_PER_DAY)
        since_open = local - day * _NS_PER_DAY
        weekday = (day + _EPOCH_WEEKDAY) % 7  # 0 = Monday
        is_open = (weekday < 5) & (since_open < self.session_hours * 60 * _NS_PER_MIN) & ~idx.isna()
        return utc, day, since_open, weekday, is_open

    # ----------------------------------------------------------------------------------------------- public API
    def is_open(self, ts) -> np.ndarray:
        """Boolean array: is the market open at each timestamp (the halt and the weekend are closed)?"""
        return self._decompose(ts)[4]

    def session_start(self, ts) -> pd.DatetimeIndex:
        """UTC time of the 17:00 Chicago open of the session containing each timestamp (NaT where closed)."""
        utc, _, since_open, _, is_open = self._decompose(ts)
        out = np.where(is_open, utc - since_open, np.iinfo(np.int64).min)
        return pd.DatetimeIndex(out.view("datetime64[ns]")).tz_localize("UTC")

    def session_end(self, ts) -> pd.DatetimeIndex:
        """UTC time of the 16:00 Chicago close of the session containing each timestamp (NaT where closed)."""
        return self.session_start(ts) + self.session_length

    def minutes_since_open(self, ts) -> np.ndarray:
        """Float minutes since the session open (0 at 17:00 Chicago), NaN where closed."""
        _, _, since_open, _, is_open = self._decompose(ts)
        return np.where(is_open, since_open / _NS_PER_MIN, np.nan)

    def session_id(self, ts) -> pd.DatetimeIndex:
        """Trading date of each timestamp as a naive midnight timestamp (NaT where closed).

        The session that opens at 17:00 Chicago on day D belongs to trading date D + 1.
        """
        _, day, _, _, is_open = self._decompose(ts)
        out = np.where(is_open, day * _NS_PER_DAY, np.iinfo(np.int64).min)
        return pd.DatetimeIndex(out.view("datetime64[ns]"))

    def bar_within_session(self, ts, freq) -> np.ndarray:
        """Boolean array: does the bar ``[ts, ts + freq)`` lie entirely inside one open session?"""
        width = freq_to_ns(freq)
        _, _, since_open, _, is_open = self._decompose(ts)
        return is_open & (since_open + width <= self.session_hours * 60 * _NS_PER_MIN)

    def trading_clock(self, ts) -> np.ndarray:
        """Open-market nanoseconds elapsed since a fixed origin, as int64.

        Closed time does not advance the clock, so ``trading_clock(b) - trading_clock(a)`` is the time the market was
        open between ``a`` and ``b``: a weekend or a halt between two consecutive bars adds nothing. A timestamp
        inside a halt or the weekend maps to the close of the preceding session.
        """
        _, day, since_open, weekday, _ = self._decompose(ts)
        length = self.session_hours * 60 * _NS_PER_MIN
        week = np.floor_divide(day + _EPOCH_WEEKDAY, 7)
        weekend = weekday >= 5
        session_no = week * 5 + np.where(weekend, 4, weekday)
        within = np.where(weekend, length, np.minimum(since_open, length))
        return session_no * length + within


def _as_utc_index(ts) -> pd.DatetimeIndex:
    """Any timestamp container as a UTC DatetimeIndex with nanosecond resolution (naive taken as UTC)."""
    if isinstance(ts, pd.DatetimeIndex):
        idx = ts
    elif isinstance(ts, pd.Series):
        idx = pd.DatetimeIndex(ts)
    else:
        idx = pd.DatetimeIndex(np.atleast_1d(np.asarray(ts)) if not isinstance(ts, pd.Timestamp) else [ts])
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    if idx.unit != "ns":
        idx = idx.as_unit("ns")
    return idx


def freq_to_ns(freq) -> int:
    """Length of a fixed-duration pandas frequency in nanoseconds (ConfigError for calendar offsets like 'ME')."""
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
        nanos = offset.nanos
    except (ValueError, TypeError):
        raise ConfigError(
            f"frequency '{freq}' is not a fixed duration; use e.g. '1min', '5min', '1h' or '1D'") from None
    if nanos <= 0:
        raise ConfigError(f"frequency '{freq}' must be positive")
    return int(nanos)


CALENDARS: dict[str, SessionCalendar] = {
    "cme_globex_equity": SessionCalendar("cme_globex_equity"),
    "cme_globex_metals": SessionCalendar("cme_globex_metals"),
    "cme_globex_fx": SessionCalendar("cme_globex_fx"),
}


def get_calendar(name) -> SessionCalendar | None:
    """The calendar called ``name`` (or the calendar itself if one is passed; ``None`` stays ``None``)."""
    if name is None or isinstance(name, SessionCalendar):
        return name
    key = str(name).lower()
    if key not in CALENDARS:
        raise ConfigError(f"unknown session calendar '{name}'; known: {', '.join(sorted(CALENDARS))}")
    return CALENDARS[key]


def calendar_for_contract(symbol: str) -> SessionCalendar:
    """The session calendar named in a contract's specification (e.g. 'MES' -> cme_globex_equity)."""
    from factory.contracts import get_contract

    return get_calendar(get_contract(symbol).session)
