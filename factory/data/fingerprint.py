"""A content hash of a bars frame, independent of the file format it came from."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd


def bars_sha256(bars: pd.DataFrame) -> str:
    """SHA-256 over the UTC nanosecond timestamps and the float64 OHLCV columns, in row order."""
    h = hashlib.sha256()
    ts = bars["timestamp"].dt.tz_convert("UTC").astype("int64").to_numpy()
    h.update(np.ascontiguousarray(ts, dtype="<i8").tobytes())
    for col in ("open", "high", "low", "close", "volume"):
        h.update(np.ascontiguousarray(bars[col].to_numpy(), dtype="<f8").tobytes())
    return h.hexdigest()
