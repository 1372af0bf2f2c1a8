"""Reading and writing bar and tick files (CSV, gzipped CSV, Parquet) with validation on the way in.

``read_bars`` / ``read_ticks`` return a clean frame (RangeIndex, ``timestamp`` as ``datetime64[ns, UTC]``, float64
values, only the contract's columns, column names matched case-insensitively) or raise
:class:`~factory.errors.DataValidationError` listing every problem; warnings (gaps) are logged and can be returned.
``validate_file`` reports all problems of a file, reading problems included, without raising.
``write_bars`` / ``write_ticks`` write atomically (temporary file in the same folder, then ``os.replace``) and
deterministically: the same frame always gives the same bytes.
"""

from __future__ import annotations

import dataclasses

import gzip
import io
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from factory.data.sessions import SessionCalendar
from factory.data.timestamps import check_tz, parse_timestamps
from factory.data.validation import BAR_COLUMNS, TICK_COLUMNS, validate_bars, validate_ticks
from factory.errors import DataValidationError, FactoryError, Issue
from factory.parquet import read_parquet

log = logging.getLogger(__name__)

_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return "parquet" if suffix in (".parquet", ".pq") else "csv"
    return None


def _read_table(path: Path) -> tuple[pd.DataFrame | None, list[Issue]]:
    """The raw table of a file, or None plus a 'readable' / 'empty' issue."""
    kind = _kind(path)
    if kind is None:
        return None, [Issue("readable", None, (),
                            f"unsupported file type '{path.name}'; use .csv, .csv.gz or .parquet")]
    if not path.exists():
        return None, [Issue("readable", None, (), f"file not found: {path}")]
    if not path.is_file():
        return None, [Issue("readable", None, (), f"not a file: {path}")]
    if path.stat().st_size == 0:
        return None, [Issue("empty", None, (), f"file is empty: {path}")]
    try:
        if kind == "csv":
            return pd.read_csv(path, low_memory=False), []
        return read_parquet(path), []
    except pd.errors.EmptyDataError:
        return None, [Issue("empty", None, (), f"file has no data: {path}")]
    except Exception as exc:  # any parser / Arrow / OS / decoding failure means the same to the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, [Issue("readable", None, (), f"cannot read {path.name} as {kind}: {first}")]


def _normalise_columns(raw: pd.DataFrame, required: tuple[str, ...]) -> tuple[pd.DataFrame | None, list[Issue]]:
    """Lower-case, stripped column names; extra columns dropped; duplicates after normalising are an error."""
    names = [str(c).strip().lower() for c in raw.columns]
    issues = []
    for col in required:
        if names.count(col) > 1:
            issues.append(Issue("columns", col, (), f"column '{col}' appears {names.count(col)} times "
                                                    "(column names are matched case-insensitively)"))
    if issues:
        return None, issues
    frame = raw.set_axis(names, axis=1)
    keep = [c for c in required if c in frame.columns]
    return frame[keep].reset_index(drop=True), []


def _missing_columns(raw: pd.DataFrame, required: tuple[str, ...], missing: list[str]) -> list[Issue]:
    """One issue per missing column naming the columns the file has, with a hint when they look like one
    header joined by another separator (``timestamp;open;high;...``)."""
    names = [str(c) for c in raw.columns]
    found = ", ".join(f"'{c}'" for c in names[:8]) + (", ..." if len(names) > 8 else "") if names else "none"
    hint = ""
    for sep, shown, word in ((";", ";", "semicolons"), ("\t", "\\t", "tabs"), ("|", "|", "pipes")):
        joined = [c for c in names if sep in c]
        if len(names) <= 2 and joined and sum(r in joined[0].lower() for r in required) >= 2:
            hint = (f"; the header looks separated by {word}: this reader needs comma-separated files "
                    f"(convert it, e.g. pandas.read_csv(path, sep='{shown}').to_csv(new_path, index=False))")
            break
    # The hint goes on the first issue only: every missing column has the same cause.
    return [Issue("columns", col, (), f"missing column '{col}' (need {', '.join(required)}; found "
                                      f"{len(names)} column(s): {found}){hint if k == 0 else ''}")
            for k, col in enumerate(missing)]


def _load(path, tz, kind: str, **checks) -> tuple[pd.DataFrame | None, list[Issue]]:
    """Read, normalise, parse and validate; returns the frame (None if unusable) and every issue found."""
    path = Path(path)
    tz = check_tz(tz)
    raw, issues = _read_table(path)
    if raw is None:
        return None, issues
    required = BAR_COLUMNS if kind == "bars" else TICK_COLUMNS
    frame, col_issues = _normalise_columns(raw, required)
    if frame is None:
        return None, col_issues
    missing = [c for c in required if c not in frame.columns]
    if missing:
        return None, _missing_columns(raw, required, missing)
    ts_issues: list[Issue] = []
    parsed = "timestamp" in frame.columns and len(frame) > 0
    if parsed:
        idx, ts_issues = parse_timestamps(frame["timestamp"], tz)
        frame["timestamp"] = idx
    found = validate_bars(frame, **checks) if kind == "bars" else validate_ticks(frame, **checks)
    if parsed:
        # The parser already reported missing and unreadable timestamps; keep one report per problem.
        found = [i for i in found if not (i.column == "timestamp" and i.check == "nan")]
    errors = [i for i in ts_issues + found if i.severity == "error"]
    warnings = [i for i in found if i.severity != "error"]
    issues = errors + warnings
    if _kind(path) == "csv":  # a CSV's data row 0 is file line 2 (after the header): name both
        issues = [dataclasses.replace(i, line_offset=2) for i in issues]
    if errors:
        return frame, issues
    for col in required[1:]:
        frame[col] = frame[col].astype(np.float64)
    return frame[list(required)], issues


def _finish(frame, issues, return_warnings):
    if frame is None or any(i.severity == "error" for i in issues):
        raise DataValidationError(issues)
    for w in issues:
        log.warning("data warning %s", w.one_line())
    return (frame, issues) if return_warnings else frame


def read_bars(path, tz: str | None = None, min_bars: int = 0, gap_factor: float = 5.0,
              calendar: SessionCalendar | str | None = None, return_warnings: bool = False):
    """Read and validate a bar file; see the module docstring.

    ``tz`` is the time zone of *naive* timestamps (e.g. ``"America/Chicago"``); without it naive timestamps are an
    error. Timestamps that carry offsets are converted to UTC and ``tz`` only confirms offsets that change with
    daylight saving. With ``return_warnings=True`` the result is ``(bars, warnings)``.
    """
    frame, issues = _load(path, tz, "bars", min_bars=min_bars, gap_factor=gap_factor, calendar=calendar)
    return _finish(frame, issues, return_warnings)


def read_ticks(path, tz: str | None = None, calendar: SessionCalendar | str | None = None,
               return_warnings: bool = False):
    """Read and validate a tick file (``timestamp, price, volume``); same rules as :func:`read_bars`."""
    frame, issues = _load(path, tz, "ticks", calendar=calendar)
    return _finish(frame, issues, return_warnings)


def validate_file(path, tz: str | None = None, min_bars: int = 0, gap_factor: float = 5.0,
                  calendar: SessionCalendar | str | None = None, kind: str = "bars") -> list[Issue]:
    """Every problem of a bar (or, with ``kind="ticks"``, tick) file at once; never raises for data problems."""
    if kind not in ("bars", "ticks"):
        raise FactoryError(f"kind must be 'bars' or 'ticks', not {kind!r}")
    checks = dict(min_bars=min_bars, gap_factor=gap_factor) if kind == "bars" else {}
    return _load(path, tz, kind, calendar=calendar, **checks)[1]


# ----------------------------------------------------------------------------------------------------- writing
def _iso_utc(ts: pd.Series):
    """ISO 8601 strings with an explicit +00:00 (an Arrow array), at the coarsest unit that loses nothing.

    Arrow's cast and string kernels do this for a million timestamps in a few hundredths of a second.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    ns = pd.DatetimeIndex(ts).tz_convert("UTC").as_unit("ns").asi8
    unit = next((u for u, step in (("s", 10**9), ("ms", 10**6), ("us", 10**3)) if not (ns % step).any()), "ns")
    text = pc.cast(pa.array(ns.view("datetime64[ns]").astype(f"datetime64[{unit}]")), pa.string())
    return pc.binary_join_element_wise(pc.replace_substring(text, " ", "T"), "+00:00", "")


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV via Arrow's writer: shortest round-trip float text, no quoting, '\n' line ends."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    columns = {"timestamp": _iso_utc(frame["timestamp"])}
    columns.update({c: pa.array(frame[c].to_numpy(dtype=np.float64)) for c in frame.columns if c != "timestamp"})
    sink = pa.BufferOutputStream()
    pcsv.write_csv(pa.table(columns), sink, pcsv.WriteOptions(quoting_style="none", quoting_header="none"))
    return sink.getvalue().to_pybytes()


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = frame.copy()
    frame["timestamp"] = pd.DatetimeIndex(frame["timestamp"]).tz_convert("UTC").as_unit("ns")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue().to_pybytes()


def _write(frame: pd.DataFrame, path, columns: tuple[str, ...]) -> Path:
    path = Path(path)
    kind = _kind(path)
    if kind is None:
        raise FactoryError(f"cannot write '{path.name}': use a .csv, .csv.gz or .parquet file name")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError([Issue("columns", missing[0], (), f"cannot write: missing column(s) {missing}")])
    frame = frame[list(columns)].reset_index(drop=True)
    dtype = frame["timestamp"].dtype
    if getattr(dtype, "tz", None) is None:
        raise DataValidationError([Issue("timezone", "timestamp", (), f"cannot write timestamps of dtype {dtype}: "
                                                                      "they must be time-zone aware (UTC)")])
    if kind == "parquet":
        data = _parquet_bytes(frame)
    else:
        data = _csv_bytes(frame)
        if path.name.lower().endswith(".gz"):
            # mtime=0 and no embedded file name keep the compressed bytes reproducible.
            buf = io.BytesIO()
            with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
                gz.write(data)
            data = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_bars(bars: pd.DataFrame, path) -> Path:
    """Write the contract columns of a bar frame to CSV (``.csv``/``.csv.gz``) or Parquet, atomically.

    CSV timestamps are ISO 8601 in UTC with an explicit ``+00:00``; floats are written at full precision.
    Other columns are not written.
    """
    return _write(bars, path, BAR_COLUMNS)


def write_ticks(ticks: pd.DataFrame, path) -> Path:
    """Write a tick frame (``timestamp, price, volume``) like :func:`write_bars`."""
    return _write(ticks, path, TICK_COLUMNS)
