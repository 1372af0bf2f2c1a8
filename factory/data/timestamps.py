"""Turning a raw timestamp column into UTC instants: one parser, with the pipeline's strict rules or a served model's.

Both modes convert timezone-aware datetimes and ISO 8601 text carrying ``Z`` or an offset to UTC, report missing
values (NaT, None, blank text), and want one kind of value per column (datetimes, text or numbers).

``mode="strict"`` (files and pipeline frames; a wrong zone would silently shift every session feature, so nothing
about zones is guessed):

* Naive values are rejected unless ``tz`` is given; then they are read as wall-clock time in ``tz`` (daylight saving
  handled by zoneinfo) and converted to UTC. Wall-clock times that do not exist or are ambiguous in ``tz`` are errors.
* A column that mixes naive and offset-carrying values is an error, and so is an object column of datetimes in
  several zones.
* A column whose offsets differ from row to row (e.g. ``-06:00`` in winter, ``-05:00`` in summer) is an error unless
  ``tz`` is given and every offset is the one ``tz`` had at that instant: that is how local exchange time is exported.
* Text in another format than ISO 8601 is read when pandas can infer the format; numbers are not timestamps.

``mode="serving"`` (a request is machine-written and its instants are unambiguous, so every zone is accepted):

* Datetimes in any zone (an object column may mix zones) and text with any offsets are converted to UTC; naive
  datetimes and text without an offset are UTC.
* Text must be ISO 8601 (``2024-01-08T14:30:00Z``, ``2024-01-08 08:30:00-06:00``, ``2024-01-08 14:30:00``).
* Numbers are integer epochs since 1970-01-01 UTC in seconds, milliseconds, microseconds or nanoseconds, told apart
  by magnitude (below 1e11: seconds; below 1e14: milliseconds; below 1e17: microseconds; else nanoseconds), which is
  unambiguous for every date between 1973 and 2286. ``DataFrame.to_json`` writes milliseconds. One unit per column.

Problems are reported instead of raised, so a file check can list them together with everything else. The check is
``timezone`` for zone problems; missing and unreadable values are ``nan`` and ``datetime`` in strict mode (the words
of the file checks) and ``timestamp`` in serving mode (the word a served model's clients have always seen). The
returned instants are a best effort (NaT where unreadable, naive values provisionally taken as UTC) so the remaining
checks can still run.
"""

from __future__ import annotations

import warnings
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

from factory.errors import ConfigError, Issue

MODES = ("strict", "serving")
MAX_ROWS = 5  # offending row positions an issue lists
NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds
# An offset only counts after a clock time, so the "-02" of a bare date "2024-01-02" is not mistaken for one.
_OFFSET_RE = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?P<off>[zZ]|[+-]\d{2}(?::?\d{2})?|UTC|GMT)\s*$"
# Upper bounds (exclusive) of |epoch| in seconds, milliseconds and microseconds; anything larger is nanoseconds.
_EPOCH_BOUNDS = np.array([1e11, 1e14, 1e17])
_EPOCH_UNITS = ("s", "ms", "us", "ns")
_NS_PER_UNIT = np.array([10**9, 10**6, 10**3, 1], dtype=np.int64)
# Object columns that pandas classifies in C, by the reader they need; any other column is examined value by value.
_INFERRED = {"string": "text", "datetime": "datetimes", "datetime64": "datetimes",
             "integer": "numbers", "floating": "numbers", "mixed-integer-float": "numbers", "boolean": "booleans",
             "empty": "empty"}
# The same kinds named per value (for messages about a mixed column), for those there is a reader of.
_READER_OF_VALUE = {"text": "text", "datetime": "datetimes", "integer": "numbers"}
DATETIME_KINDS = ("datetime64", "datetimes")

# report(check, mask of offending rows or None, message): called once per problem; it may raise to stop early.
Report = Callable[[str, "np.ndarray | None", str], None]


@dataclass(frozen=True)
class _Rules:
    any_zone: bool       # serving: zones and offsets may differ and naive values are UTC
    epochs: bool         # serving: numbers are epochs, their unit told by magnitude
    guess_formats: bool  # strict: text that is not ISO 8601 is read when pandas can infer its format
    unreadable: str      # check name of values that are not timestamps
    missing: str         # check name of missing values
    expected: str        # what a timestamp may be, for messages


_RULES = {
    "strict": _Rules(any_zone=False, epochs=False, guess_formats=True, unreadable="datetime", missing="nan",
                     expected="date-times such as '2024-01-08T14:30:00+00:00'"),
    "serving": _Rules(any_zone=True, epochs=True, guess_formats=False, unreadable="timestamp", missing="timestamp",
                      expected="datetimes, ISO-8601 strings or integer epochs"),
}


def check_mode(mode: str) -> str:
    """The mode, if it is one of :data:`MODES` (ValueError otherwise): the checks and the parser share them."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    return mode


def first_rows(mask: np.ndarray | None) -> tuple[int, ...]:
    """The first :data:`MAX_ROWS` positions flagged in ``mask`` (what an :class:`Issue` lists)."""
    return () if mask is None else tuple(int(i) for i in np.flatnonzero(mask)[:MAX_ROWS])


def count_rows(mask: np.ndarray) -> str:
    """'1 row', '3 rows': how many positions ``mask`` flags, for messages."""
    n = int(np.count_nonzero(mask))
    return f"{n} row{'s' if n != 1 else ''}"


def check_tz(tz: str | None) -> str | None:
    """Validate a time-zone name (ConfigError for an unknown one)."""
    if tz is None:
        return None
    try:
        zoneinfo.ZoneInfo(str(tz))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone '{tz}' (use an IANA name such as 'America/Chicago' or 'UTC')") from None
    return str(tz)


def column_kind(raw: pd.Series) -> str:
    """``datetime64``, ``datetimes`` (objects), ``text``, ``numbers``, ``booleans``, ``empty`` or ``other``."""
    dtype = raw.dtype
    if is_datetime64_any_dtype(dtype):
        return "datetime64"
    if is_bool_dtype(dtype):
        return "booleans"
    if is_numeric_dtype(dtype):
        return "numbers"
    return _INFERRED.get(pd.api.types.infer_dtype(raw, skipna=True), "other")


def parse_timestamps(raw: pd.Series, tz: str | None = None, *,
                     mode: str = "strict") -> tuple[pd.DatetimeIndex, list[Issue]]:
    """Parse a timestamp column into a UTC DatetimeIndex (ns) plus the issues found (see the module docstring)."""
    issues: list[Issue] = []

    def report(check: str, mask: np.ndarray | None, message: str) -> None:
        issues.append(Issue(check, "timestamp", first_rows(mask), message))

    return read_timestamps(raw, report, tz=tz, mode=mode), issues


def read_timestamps(raw: pd.Series, report: Report, *, tz: str | None = None,
                    mode: str = "strict") -> pd.DatetimeIndex:
    """:func:`parse_timestamps` for callers that collect problems their own way (see :data:`Report`)."""
    rules = _RULES[check_mode(mode)]
    tz = check_tz(tz)
    if tz is not None and rules.any_zone:
        raise ValueError("tz applies to strict mode only: serving mode reads naive timestamps as UTC")
    return _Parser(report, rules, tz, len(raw)).read(raw)


# ----------------------------------------------------------------------------------------------------- parser
class _Parser:
    """One column's parse: dispatches on the kind of values, reports problems, returns UTC instants."""

    def __init__(self, report: Report, rules: _Rules, tz: str | None, n: int):
        self.report, self.rules, self.tz, self.n = report, rules, tz, n

    def read(self, raw: pd.Series, kind: str | None = None) -> pd.DatetimeIndex:
        kind = kind or column_kind(raw)
        if kind == "datetime64":
            return self._datetime64(raw)
        if kind == "datetimes":
            return self._datetime_objects(raw)
        if kind == "text":
            return self._text(raw)
        if kind == "numbers" and self.rules.epochs:
            return self._epochs(raw)
        if kind == "other":
            return self._by_value(raw)
        return self._not_timestamps(raw, kind)

    def _nat(self) -> pd.DatetimeIndex:
        return _utc(np.full(self.n, NAT))

    def _not_timestamps(self, raw: pd.Series, kind: str) -> pd.DatetimeIndex:
        missing = raw.isna().to_numpy()
        self._missing(missing)
        if kind != "empty":
            self.report(self.rules.unreadable, ~missing,
                        f"timestamp column holds {kind} (dtype {raw.dtype}); expected {self.rules.expected}")
        return self._nat()

    def _missing(self, mask: np.ndarray) -> None:
        if mask.any():
            self.report(self.rules.missing, mask, f"{count_rows(mask)} with a missing timestamp")

    def _naive(self, naive: pd.DatetimeIndex, rows: np.ndarray) -> pd.DatetimeIndex:
        """Naive instants (``rows`` of them count) to UTC: read in ``tz``, as UTC when serving, else an error."""
        if self.tz is not None:
            return _localize(naive, self.tz, rows, self.report)
        if not self.rules.any_zone:
            self.report("timezone", rows, "timestamps are naive (no UTC offset); say which time zone they are "
                                          "in with --tz ZONE (-P tz=ZONE under mlflow run, data: {tz: ZONE} in "
                                          "a config; e.g. America/Chicago)")
        return naive.tz_localize("UTC")

    # ------------------------------------------------------------------------------------------- by kind
    def _datetime64(self, raw: pd.Series) -> pd.DatetimeIndex:
        idx = pd.DatetimeIndex(raw).as_unit("ns")
        self._missing(idx.isna())
        if idx.tz is not None:
            return idx.tz_convert("UTC")
        return self._naive(idx, np.ones(self.n, bool))

    def _datetime_objects(self, raw: pd.Series) -> pd.DatetimeIndex:
        """An object column of datetimes: pandas keeps values of several zones (or naive and aware ones) this way."""
        missing = raw.isna().to_numpy()
        self._missing(missing)
        if self.rules.any_zone:
            return pd.DatetimeIndex(pd.to_datetime(raw, utc=True)).as_unit("ns")
        zones = np.full(self.n, "", dtype=object)
        zones[~missing] = raw[~missing].map(_zone_name).to_numpy(dtype=object)
        naive = ~missing & (zones == "")
        if naive.any() and not naive[~missing].all():
            self.report("timezone", naive, "timestamps mix naive and time-zone-aware values")
        elif naive.any():
            return self._naive(pd.DatetimeIndex(pd.to_datetime(raw)).as_unit("ns"), naive)
        else:
            present = zones[~missing]
            other = ~missing & (zones != present[0])
            if other.any():
                self.report("timezone", other, f"timestamps mix time zones ({', '.join(sorted(set(present)))}); "
                                               "convert them to UTC")
        return pd.DatetimeIndex(pd.to_datetime(raw, utc=True)).as_unit("ns")

    def _text(self, raw: pd.Series) -> pd.DatetimeIndex:
        arr = pc.utf8_trim_whitespace(pa.array(raw.to_numpy(dtype=object), type=pa.string(), from_pandas=True))
        missing = pc.or_(pc.is_null(arr), pc.fill_null(pc.equal(arr, ""), False)).to_numpy(zero_copy_only=False)
        arr = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), arr)
        self._missing(missing)
        # Only the strict rules look at each row's offset; serving reads a column of one style without the regex.
        off = None if self.rules.any_zone else _offsets(arr)
        ns, failed = _parse_text(arr, missing, None if off is None else pd.notna(off), self.rules.guess_formats)
        if failed.any():
            sample = arr[int(np.flatnonzero(failed)[0])].as_py()
            what = "a date-time" if self.rules.guess_formats else "an ISO-8601 timestamp"
            self.report(self.rules.unreadable, failed, f"{count_rows(failed)} not {what} (e.g. {sample!r})")
        idx = _utc(ns)
        if off is None:
            return idx
        return self._text_zones(idx, off, ~missing & ~failed)

    def _text_zones(self, idx: pd.DatetimeIndex, off: np.ndarray, ok: np.ndarray) -> pd.DatetimeIndex:
        has_off = pd.notna(off)
        aware, naive = has_off & ok, ~has_off & ok
        if aware.any() and naive.any():
            self.report("timezone", naive,
                        f"timestamps mix values with and without a UTC offset ({count_rows(naive)} without one)")
            return idx
        if naive.any():
            return self._naive(idx.tz_localize(None), naive)
        if aware.any():
            self._same_offsets(idx, off, aware)
        return idx

    def _same_offsets(self, idx: pd.DatetimeIndex, off: np.ndarray, aware: np.ndarray) -> None:
        """Offsets must agree, or be the offsets ``tz`` had at each instant (local exchange time across DST)."""
        offsets = pd.Series(off[aware]).map({s: _offset_minutes(s) for s in pd.unique(off[aware])}).to_numpy()
        if (offsets == offsets[0]).all():
            return
        row_off = np.zeros(self.n, dtype=np.int64)
        row_off[aware] = offsets
        if self.tz is None:
            self.report("timezone", aware & (row_off != offsets[0]),
                        "timestamps carry different UTC offsets; if they are local times of one zone across "
                        "daylight saving, confirm the zone with --tz ZONE (-P tz=ZONE under mlflow run; e.g. "
                        "America/Chicago)")
            return
        local = idx.tz_convert(self.tz).tz_localize(None)
        expected = (local.asi8 - idx.asi8) // 60_000_000_000
        bad = aware & (row_off != expected)
        if bad.any():
            self.report("timezone", bad, f"{count_rows(bad)} carry a UTC offset that {self.tz} did not have at "
                                         "that time (mixed time zones)")

    def _epochs(self, raw: pd.Series) -> pd.DatetimeIndex:
        """Integer epochs in one unit, chosen by magnitude, to UTC."""
        missing = raw.isna().to_numpy()
        self._missing(missing)
        # pd.to_numeric keeps Python ints exact while they fit int64 (float64 would round nanosecond epochs).
        values = raw.to_numpy() if is_numeric_dtype(raw.dtype) else pd.to_numeric(raw, errors="coerce").to_numpy()
        ok = ~missing
        if values.dtype.kind == "f":
            whole = np.isfinite(values) & (values == np.round(values))
            self._flag(ok & ~whole, "numeric timestamps must be whole epochs, got {sample!r}", values)
            ok &= whole
            self._flag(ok & (np.abs(values) >= 2.0**63), "integer epochs out of range, e.g. {sample!r}", values)
            ok &= np.abs(values) < 2.0**63
        if not ok.any():
            return self._nat()
        ints = np.where(ok, values, 0).astype(np.int64)
        unit = np.searchsorted(_EPOCH_BOUNDS, np.abs(ints), side="right")
        first = int(np.argmax(ok))
        mixed = ok & (unit != unit[first])
        if mixed.any():
            here = _EPOCH_UNITS[unit[int(np.argmax(mixed))]]
            self.report(self.rules.unreadable, mixed,
                        f"integer epochs mix units ({_EPOCH_UNITS[unit[first]]} at row {first}, {here} here)")
            ok &= ~mixed
        scale = _NS_PER_UNIT[unit[first]]
        fits = np.abs(ints) <= np.iinfo(np.int64).max // scale
        self._flag(ok & ~fits, "integer epochs out of range, e.g. {sample!r}", ints)
        ns = np.full(self.n, NAT)
        ns[ok & fits] = ints[ok & fits] * scale
        return _utc(ns)

    def _flag(self, mask: np.ndarray, message: str, values: np.ndarray) -> None:
        if mask.any():
            self.report(self.rules.unreadable, mask, message.format(sample=values[int(np.argmax(mask))].item()))

    def _by_value(self, raw: pd.Series) -> pd.DatetimeIndex:
        """A column pandas cannot classify: read it if its values are of one kind (e.g. categorical text), else
        explain the mix."""
        present = ~raw.isna().to_numpy()
        kinds = np.full(self.n, "missing", dtype=object)
        kinds[present] = raw[present].map(_value_kind).to_numpy(dtype=object)
        first = int(np.argmax(present))
        other = present & (kinds != kinds[first])
        if present.any() and not other.any() and kinds[first] in _READER_OF_VALUE:
            return self.read(raw.astype(object), _READER_OF_VALUE[kinds[first]])
        self._missing(~present)
        if other.any():
            row = int(np.argmax(other))
            self.report(self.rules.unreadable, other, f"mixes value types ({kinds[first]} at row {first}, "
                                                      f"{kinds[row]} here): send one kind of timestamp per column")
        elif present.any():
            self.report(self.rules.unreadable, present, f"timestamp column holds {kinds[first]} values such as "
                                                        f"{raw.iloc[first]!r}; expected {self.rules.expected}")
        return self._nat()


# ----------------------------------------------------------------------------------------------------- helpers
def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


def _zone_name(value) -> str:
    tz = getattr(value, "tzinfo", None)
    return "" if tz is None else str(tz)


def _value_kind(value) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, (pd.Timestamp, np.datetime64)) or hasattr(value, "tzinfo"):
        return "datetime"
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, np.integer)):
        return "integer"
    return type(value).__name__


def _offset_minutes(text: str) -> int:
    if text.upper() in ("Z", "UTC", "GMT"):
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 60 + int(digits[2:4] or 0))


def _offsets(arr: pa.Array) -> np.ndarray:
    """Each value's UTC offset text (None without one); Arrow's regex kernel does a million strings in a blink."""
    return pc.struct_field(pc.extract_regex(arr, _OFFSET_RE), [0]).to_numpy(zero_copy_only=False)


def _localize(naive: pd.DatetimeIndex, tz: str, rows: np.ndarray, report: Report) -> pd.DatetimeIndex:
    """Wall-clock times in ``tz`` -> UTC; non-existent / ambiguous times become NaT and an issue."""
    was_nat = naive.isna()
    local = naive.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    bad = local.isna() & ~was_nat & rows
    if bad.any():
        report("timezone", bad, f"{count_rows(bad)} are not valid local times in {tz} (skipped or repeated by a "
                                "daylight saving change); store such data with UTC offsets")
    return local.tz_convert("UTC")


def _arrow_cast(arr: pa.Array, aware: bool) -> np.ndarray | None:
    """Arrow's strict ISO 8601 cast to int64 ns (NaT for nulls); None when a value does not fit (or mixes styles)."""
    target = pa.timestamp("ns", tz="UTC") if aware else pa.timestamp("ns")
    try:
        return pc.fill_null(pc.cast(arr, target).cast(pa.int64()), NAT).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _parse_text(arr: pa.Array, missing: np.ndarray, has_off: np.ndarray | None,
                guess: bool) -> tuple[np.ndarray, np.ndarray]:
    """UTC nanoseconds (naive values taken as UTC for now) and the mask of values that are not date-times.

    Arrow's cast reads the usual column (every value with an offset, or none) in one go. Values with and without an
    offset are read as two groups, so one style never lends its offset to the other (as pandas' ISO 8601 parser
    does); whatever Arrow refuses goes through pandas, and with ``guess`` through its format inference, value by
    value.
    """
    if has_off is None:
        for aware in (True, False):
            ns = _arrow_cast(arr, aware)
            if ns is not None:
                return ns, np.zeros(len(arr), bool)
        has_off = pd.notna(_offsets(arr))
    ns = np.full(len(arr), NAT)
    failed = np.zeros(len(arr), bool)
    for aware in (True, False):
        rows = ~missing & (has_off == aware)
        if rows.any():
            ns[rows], failed[rows] = _parse_group(arr.filter(pa.array(rows)), aware, guess)
    return ns, failed


def _parse_group(arr: pa.Array, aware: bool, guess: bool) -> tuple[np.ndarray, np.ndarray]:
    ns = _arrow_cast(arr, aware)
    if ns is not None:
        return ns, np.zeros(len(arr), bool)
    text = pd.Series(arr.to_numpy(zero_copy_only=False), dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        failed = parsed.isna().to_numpy()
        if guess and failed.any():  # not ISO 8601: let pandas infer the format value by value
            parsed = parsed.copy()
            parsed[failed] = pd.to_datetime(text[failed], utc=True, format="mixed", errors="coerce")
            failed = parsed.isna().to_numpy()
    return pd.DatetimeIndex(parsed).as_unit("ns").asi8, failed
