"""Checks of a raw ``/invocations`` request that MLflow's scoring server does not make (or makes with a 500).

Each failure is a :class:`RequestError` whose message starts with the check's name, in the format of
:mod:`serving.input_checks` (``invalid request: [json_depth] ...``), so a client reads what is wrong in the first
words. Everything here runs before MLflow parses the body, on bounded work:

* ``json_depth``: nesting is measured by a byte scan (strings removed, brackets counted with numpy), never by a
  recursive parser, so a body nested 100,000 deep is refused instead of raising ``RecursionError``;
* ``encoding``, ``json``, ``format``: the body is UTF-8 JSON, an object with exactly one MLflow input field;
* ``columns``: at most :data:`MAX_COLUMNS`, no duplicate names, none of the model's inputs missing;
* ``params``: only the params the model's signature declares;
* ``csv``: a ``text/csv`` body is read with pandas here and handed on as ``dataframe_split`` JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

import numpy as np

# The layouts MLflow's scoring server reads (``instances`` is its older name of ``inputs``).
INPUT_FIELDS = ("dataframe_split", "dataframe_records", "inputs", "instances")
# A request table has the 6 bar columns; a few extra ones are ignored by the model, a million are an attack.
MAX_COLUMNS = 64
_OPEN, _CLOSE = np.zeros(256, np.int8), np.zeros(256, np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_CLOSE[[ord("]"), ord("}")]] = 1
_DELTA = _OPEN - _CLOSE
_BLOCK = 1 << 20


class RequestError(ValueError):
    """A client's mistake: HTTP ``status`` with a message naming the ``check``."""

    def __init__(self, check: str, message: str, status: int = 400) -> None:
        super().__init__(f"invalid request: [{check}] {message}")
        self.check = check
        self.status = status


def json_depth(body: bytes) -> int:
    """Deepest bracket nesting of a JSON text, brackets inside strings not counted (no recursion, O(n)).

    Numpy over 1 MiB blocks: a quote opens or closes a string unless an odd run of backslashes precedes it; the
    string state, the backslash run and the depth carry from block to block, so a large body needs no big
    temporaries.
    """
    depth = peak = run = 0  # run: backslashes ending the previous block
    in_string = 0
    for start in range(0, len(body), _BLOCK):
        block = np.frombuffer(body, np.uint8, count=min(_BLOCK, len(body) - start), offset=start)
        quotes = np.flatnonzero(block == 34)
        backslash = block == 92
        if quotes.size and (run or backslash.any()):
            last_plain = np.maximum.accumulate(np.where(backslash, -1, np.arange(block.size)))
            before = quotes - 1
            at = last_plain[np.maximum(before, 0)]
            runs = np.where(before < 0, run, np.where(at < 0, before + 1 + run, before - at))
            quotes = quotes[runs % 2 == 0]
        if backslash.any() and backslash[-1]:
            tail = np.flatnonzero(~backslash)
            run = block.size - 1 - int(tail[-1]) if tail.size else block.size + run
        else:
            run = 0
        # Only the brackets matter: each is inside a string when an odd number of real quotes precede it.
        delta = _DELTA[block]
        brackets = np.flatnonzero(delta)
        if brackets.size:
            outside = (np.searchsorted(quotes, brackets) + in_string) % 2 == 0
            steps = delta[brackets[outside]]
            if steps.size:
                running = np.cumsum(steps, dtype=np.int64) + depth
                peak = max(peak, int(running.max()))
                depth = int(running[-1])
        in_string = (in_string + quotes.size) % 2
    return peak


def parse_json_request(body: bytes, max_depth: int) -> dict[str, Any]:
    """The decoded request object, after the depth, encoding and JSON checks."""
    depth = json_depth(body)
    if depth > max_depth:
        raise RequestError("json_depth", f"JSON nested {depth} levels deep; at most {max_depth} are accepted "
                                         "(a request table needs 4)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError("encoding", f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        request = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise RequestError("columns", f"duplicate key {exc.args[0]!r} in a JSON object") from None
    except ValueError as exc:
        raise RequestError("json", f"the body is not valid JSON ({exc})") from None
    if not isinstance(request, dict):
        raise RequestError("format", f"the body must be a JSON object with one of the fields {list(INPUT_FIELDS)}; "
                                     f"got a {type(request).__name__}")
    return request


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def check_request(request: dict[str, Any], input_names: Iterable[str], known_params: Iterable[str]) -> None:
    """The format, columns and params checks of a decoded JSON request (raises :class:`RequestError`)."""
    fields = [k for k in request if k in INPUT_FIELDS]
    if len(fields) != 1:
        raise RequestError("format", f"the body must hold exactly one of the fields {list(INPUT_FIELDS)}; "
                                     f"got {_names(list(request))}")
    columns = _columns(fields[0], request[fields[0]])
    if columns is not None:
        check_columns(columns, input_names)
    params = request.get("params")
    if params is None:
        return
    if not isinstance(params, dict):
        raise RequestError("params", f"'params' must be a JSON object; got a {type(params).__name__}")
    known = list(known_params)
    unknown = [k for k in params if k not in known]
    if unknown:
        raise RequestError("params", f"unknown param {_names(unknown)}; this model accepts {_names(known) or 'none'}")


def check_columns(columns: list[Any], input_names: Iterable[str]) -> None:
    """At most :data:`MAX_COLUMNS` names, each once, the model's inputs all present."""
    if len(columns) > MAX_COLUMNS:
        raise RequestError("columns", f"{len(columns):,} columns; at most {MAX_COLUMNS} are accepted "
                                      "(the model reads the bar columns)")
    seen: set[Any] = set()
    for name in columns:
        if name in seen:
            raise RequestError("columns", f"duplicate column {str(name)!r}")
        seen.add(name)
    missing = [n for n in input_names if n not in seen]
    if missing:
        raise RequestError("columns", f"missing column {_names(missing)}")


def _columns(field: str, data: Any) -> list[Any] | None:
    """Column names of a table layout, or None when the layout is not a table MLflow will read as columns."""
    if field == "dataframe_split":
        if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
            raise RequestError("format", "'dataframe_split' must be an object with a 'columns' list and a 'data' "
                                         "list of rows")
        return data["columns"]
    if field == "dataframe_records":
        if not isinstance(data, list) or not data or not all(isinstance(r, dict) for r in data):
            raise RequestError("format", "'dataframe_records' must be a non-empty list of objects (one per row)")
        names: dict[str, None] = {}
        for record in data:
            if len(record) > MAX_COLUMNS:
                return list(record)
            names.update(dict.fromkeys(record))
        return list(names)
    if isinstance(data, dict):  # inputs / instances as one list per column
        return list(data)
    return None


def csv_request(body: bytes) -> dict[str, Any]:
    """A ``text/csv`` body (a header row, then one row per bar) as a ``dataframe_split`` request."""
    import pandas as pd

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError("encoding", f"the body is not UTF-8 (byte {exc.start})") from None
    first = text.split("\n", 1)[0].rstrip("\r")
    try:
        header = next(csv.reader([first]), [])
    except csv.Error as exc:
        raise RequestError("csv", f"cannot read the header row ({exc})") from None
    if not header or not any(h.strip() for h in header):
        raise RequestError("csv", "the body needs a header row naming the columns")
    check_columns(header, ())  # before pandas builds a frame of a million columns or renames duplicates
    try:
        frame = pd.read_csv(io.StringIO(text), dtype={"timestamp": str})
    except (ValueError, pd.errors.ParserError) as exc:
        raise RequestError("csv", f"cannot read the body as CSV ({_first_line(exc)})") from None
    split = frame.to_dict(orient="split", index=False)
    return {"dataframe_split": {"columns": split["columns"], "data": split["data"]}}


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _names(values: list[Any], limit: int = 5) -> str:
    shown = ", ".join(repr(str(v)[:60]) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")
