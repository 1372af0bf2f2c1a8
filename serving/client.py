"""Client side of the scoring protocol: bars -> request body in each MLflow input format, response -> frame.

MLflow's scoring server reads three JSON layouts of a table: ``dataframe_split`` (columns + rows),
``dataframe_records`` (one object per row) and ``inputs`` (one list per column). Timestamps are sent as
ISO-8601 strings with their offset, which every layout carries unchanged; ``params`` rides along.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
INPUT_FORMATS = ("dataframe_split", "dataframe_records", "inputs")


def _jsonable(bars: pd.DataFrame) -> pd.DataFrame:
    out = bars[[c for c in BAR_COLUMNS if c in bars.columns]].reset_index(drop=True).copy()
    ts = out.get("timestamp")
    if ts is not None and pd.api.types.is_datetime64_any_dtype(ts.dtype):
        out["timestamp"] = [t.isoformat() for t in ts]
    return out


def bars_payload(bars: pd.DataFrame, input_format: str = "dataframe_split", last_only: bool | None = True,
                 ) -> dict[str, Any]:
    """The request body for the bar columns of ``bars`` in ``input_format`` (no ``params`` if ``last_only`` is None).

    Other columns are left out; a missing bar column stays missing (the server will say so).
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"unknown input format {input_format!r}; use one of {INPUT_FORMATS}")
    frame = _jsonable(bars)
    # Native Python values: json writes floats by repr (exact round trip) and integers as integers.
    split = frame.to_dict(orient="split", index=False)
    if input_format == "dataframe_split":
        data: Any = split
    elif input_format == "dataframe_records":
        data = [dict(zip(split["columns"], row)) for row in split["data"]]
    else:
        data = {c: [row[j] for row in split["data"]] for j, c in enumerate(split["columns"])}
    body: dict[str, Any] = {input_format: data}
    if last_only is not None:
        body["params"] = {"last_only": bool(last_only)}
    return body


def predictions_frame(body: dict[str, Any]) -> pd.DataFrame:
    """The ``predictions`` of a 200 response as a DataFrame (``timestamp`` parsed as UTC)."""
    out = pd.DataFrame(body["predictions"])
    if "timestamp" in out:
        out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True, format="ISO8601")
    return out
