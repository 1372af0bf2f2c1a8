"""Turning a raw timestamp column (text or datetimes) into UTC instants, with strict time-zone rules.

* Values carrying an offset or ``Z``/``UTC`` are converted to UTC.
* Naive values are rejected unless ``tz`` is given; then they are read as wall-clock time in ``tz`` (daylight saving
  handled by zoneinfo) and converted to UTC. Wall-clock times that do not exist or are ambiguous in ``tz`` are errors.
* A column that mixes naive and offset-carrying values is an error.
* A column whose offsets differ from row to row (e.g. ``-06:00`` in winter, ``-05:00`` in summer) is an error unless
  ``tz`` is given and every offset is the one ``tz`` had at that instant: that is how local exchange time is exported.

Problems are reported as issues (check ``timezone``, ``datetime`` or ``nan``) instead of raised, so a file check can
list them together with everything else; the returned instants are a best effort (naive values provisionally taken as
UTC) so the remaining checks can still run.
"""

from __future__ import annotations

import warnings
import zoneinfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import is_datetime64_any_dtype, is_numeric_dtype

from factory.errors import ConfigError, Issue

MAX_ROWS = 5
_NAT = np.iinfo(np.int64).min
# An offset only counts after a clock time, so the "-02" of a bare date "2024-01-02" is not mistaken for one.
_OFFSET_RE = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?P<off>[zZ]|[+-]\d{2}(?::?\d{2})?|UTC|GMT)\s*$"


def _rows(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.flatnonzero(mask)[:MAX_ROWS])


def _n(mask: np.ndarray) -> str:
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


def _offset_minutes(text: str) -> int:
    if text.upper() in ("Z", "UTC", "GMT"):
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 60 + int(digits[2:4] or 0))


def _localize(naive: pd.DatetimeIndex, tz: str, rows: np.ndarray, issues: list[Issue]) -> pd.DatetimeIndex:
    """Wall-clock times in ``tz`` -> UTC; non-existent / ambiguous times become NaT and an issue."""
    was_nat = naive.isna()
    local = naive.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    bad = local.isna() & ~was_nat & rows
    if bad.any():
        issues.append(Issue("timezone", "timestamp", _rows(bad),
                            f"{_n(bad)} are not valid local times in {tz} (skipped or repeated by a daylight "
                            "saving change); store such data with UTC offsets"))
    return local.tz_convert("UTC")


def _arrow_strings(raw: pd.Series) -> pa.Array:
    """The column as an Arrow string array with surrounding whitespace removed (missing values as nulls)."""
    try:
        arr = pa.array(raw.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a mix of strings and other objects
        arr = pa.array(raw.astype("string").to_numpy(dtype=object, na_value=None), type=pa.string())
    return pc.utf8_trim_whitespace(arr)


def _parse(arr: pa.Array, missing: np.ndarray, has_off: np.ndarray) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """UTC instants (naive values taken as UTC for now) and the mask of values that are not date-times.

    Arrow's strict ISO 8601 cast handles the usual file in milliseconds; anything it refuses (other formats,
    a column mixing naive and offset values, unreadable values) goes through pandas, value by value if needed.
    """
    present = ~missing
    if has_off[present].all() or not has_off[present].any():
        target = pa.timestamp("ns", tz="UTC") if has_off[present].any() else pa.timestamp("ns")
        try:
            ns = pc.fill_null(pc.cast(arr, target).cast(pa.int64()), _NAT).to_numpy()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        else:
            return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC"), np.zeros(len(arr), bool)
    text = pd.Series(arr.to_numpy(zero_copy_only=False), dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        failed = parsed.isna().to_numpy() & ~missing
        if failed.any():  # not ISO 8601: let pandas infer the format value by value
            parsed = parsed.copy()
            parsed[failed] = pd.to_datetime(text[failed], utc=True, format="mixed", errors="coerce")
            failed = parsed.isna().to_numpy() & ~missing
    return pd.DatetimeIndex(parsed).as_unit("ns"), failed


def parse_timestamps(raw: pd.Series, tz: str | None = None) -> tuple[pd.DatetimeIndex, list[Issue]]:
    """Parse a timestamp column into a UTC DatetimeIndex (ns) plus the issues found (see the module docstring)."""
    tz = check_tz(tz)
    issues: list[Issue] = []
    n = len(raw)
    if is_datetime64_any_dtype(raw.dtype):
        idx = pd.DatetimeIndex(raw).as_unit("ns")
        if idx.tz is not None:
            return idx.tz_convert("UTC"), issues
        if tz is not None:
            return _localize(idx, tz, np.ones(n, bool), issues), issues
        issues.append(Issue("timezone", "timestamp", _rows(np.ones(n, bool)),
                            "timestamps are naive (no UTC offset); pass tz=... (e.g. 'America/Chicago') to say "
                            "which time zone they are in"))
        return idx.tz_localize("UTC"), issues
    if is_numeric_dtype(raw.dtype) or raw.dtype == bool:
        issues.append(Issue("datetime", "timestamp", _rows(np.ones(n, bool)),
                            f"timestamp column holds {raw.dtype} values; expected ISO 8601 date-times such as "
                            "'2024-01-08T14:30:00+00:00'"))
        return pd.DatetimeIndex(np.full(n, _NAT).view("datetime64[ns]")).tz_localize("UTC"), issues

    arr = _arrow_strings(raw)
    missing = pc.or_(pc.is_null(arr), pc.fill_null(pc.equal(arr, ""), False)).to_numpy(zero_copy_only=False)
    arr = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), arr)
    # Arrow's regex kernel finds the offsets of a million strings in a fraction of a second.
    off = pc.struct_field(pc.extract_regex(arr, _OFFSET_RE), [0]).to_numpy(zero_copy_only=False)
    has_off = pd.notna(off)
    idx, failed = _parse(arr, missing, has_off)
    if missing.any():
        issues.append(Issue("nan", "timestamp", _rows(missing), f"{_n(missing)} missing a timestamp"))
    if failed.any():
        sample = arr[int(np.flatnonzero(failed)[0])].as_py()
        issues.append(Issue("datetime", "timestamp", _rows(failed),
                            f"{_n(failed)} could not be read as date-times (e.g. {sample!r})"))
    ok = ~missing & ~failed
    aware = has_off & ok
    naive = ~has_off & ok
    if not ok.any():
        return idx, issues
    if aware.any() and naive.any():
        issues.append(Issue("timezone", "timestamp", _rows(naive),
                            f"timestamps mix values with and without a UTC offset ({_n(naive)} without one)"))
        return idx, issues
    if naive.any():
        if tz is None:
            issues.append(Issue("timezone", "timestamp", _rows(naive),
                                "timestamps are naive (no UTC offset); pass tz=... (e.g. 'America/Chicago') to say "
                                "which time zone they are in"))
            return idx, issues
        return _localize(idx.tz_localize(None), tz, naive, issues), issues

    # Every value has an offset: fine when they agree, or when they are the offsets of `tz` at each instant.
    offsets = pd.Series(off[aware]).map({s: _offset_minutes(s) for s in pd.unique(off[aware])}).to_numpy()
    if (offsets == offsets[0]).all():
        return idx, issues
    row_off = np.zeros(n, dtype=np.int64)
    row_off[aware] = offsets
    if tz is None:
        bad = aware & (row_off != offsets[0])
        issues.append(Issue("timezone", "timestamp", _rows(bad),
                            "timestamps carry different UTC offsets; if they are local times of one zone across "
                            "daylight saving, pass tz=... (e.g. 'America/Chicago') to confirm"))
        return idx, issues
    local = idx.tz_convert(tz).tz_localize(None)
    expected = (local.asi8 - idx.asi8) // 60_000_000_000
    bad = aware & (row_off != expected)
    if bad.any():
        issues.append(Issue("timezone", "timestamp", _rows(bad),
                            f"{_n(bad)} carry a UTC offset that {tz} did not have at that time (mixed time zones)"))
    return idx, issues
