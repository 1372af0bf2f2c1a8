"""The samples logged inside every model for the drift monitor, both training-period model inputs.

* the reference sample: what served windows are compared with, rows evenly spread over the training period;
* the null sample: a few contiguous, time-ordered stretches of training rows held out of the reference. The
  monitor cuts them into blocks of its window size to learn how far in-distribution windows drift from the
  reference. Contiguous because a short window of a time series sits inside one regime: rows drawn at random from
  the whole period would look far more like the reference than any real window does.

The two never share a row, so the null is measured the way live windows are: on rows the reference does not hold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE_ROWS = 5_000
NULL_ROWS = 30_000
NULL_SEGMENTS = 3
SEGMENT_COLUMN = "segment"
NULL_ARTIFACT = "drift_null_sample"  # the artifact key in the MLmodel, where the drift monitor looks for it


def reference_sample(inputs: pd.DataFrame, timestamps: pd.Series, rows: np.ndarray,
                     max_rows: int = REFERENCE_ROWS) -> pd.DataFrame:
    """``timestamp`` plus the model inputs at up to ``max_rows`` of ``rows``, evenly spread over them.

    Evenly spread rather than the most recent ones so the sample covers every regime the model was trained on.
    """
    rows = np.asarray(rows)
    if len(rows) > max_rows:
        rows = rows[np.unique(np.linspace(0, len(rows) - 1, max_rows).round().astype(np.int64))]
    out = inputs.iloc[rows].reset_index(drop=True)
    out.insert(0, "timestamp", pd.Series(timestamps).iloc[rows].reset_index(drop=True))
    return out


def null_segments(n_rows: int, null_rows: int = NULL_ROWS, segments: int = NULL_SEGMENTS,
                  reference_rows: int = 0) -> list[tuple[int, int]]:
    """``[lo, hi)`` positions of the held-out stretches among ``n_rows`` training rows.

    ``segments`` equal stretches centred in equal parts of the period (so they see its different regimes), taking
    at most half of the rows and never so many that fewer than ``reference_rows`` are left for the reference.
    """
    if null_rows <= 0 or segments <= 0:
        return []
    length = min(null_rows, n_rows // 2, n_rows - reference_rows) // segments
    if length < 1:
        return []
    part = n_rows / segments
    out = []
    for k in range(segments):
        lo = int(round(k * part + (part - length) / 2))
        out.append((lo, lo + length))
    return out


def reference_and_null(inputs: pd.DataFrame, timestamps: pd.Series, rows: np.ndarray,
                       max_rows: int = REFERENCE_ROWS, null_rows: int = NULL_ROWS,
                       segments: int = NULL_SEGMENTS) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(reference sample, null sample or None) from the training ``rows``; they share no row.

    The null sample holds ``timestamp``, ``segment`` (which stretch a row belongs to: blocks never cross two) and
    the model inputs, in time order.
    """
    rows = np.asarray(rows)
    spans = null_segments(len(rows), null_rows, segments, max_rows)
    if not spans:
        return reference_sample(inputs, timestamps, rows, max_rows), None
    held = np.zeros(len(rows), dtype=bool)
    for lo, hi in spans:
        held[lo:hi] = True
    reference = reference_sample(inputs, timestamps, rows[~held], max_rows)
    parts = []
    for k, (lo, hi) in enumerate(spans):
        part = reference_sample(inputs, timestamps, rows[lo:hi], hi - lo)
        part.insert(1, SEGMENT_COLUMN, np.int32(k))
        parts.append(part)
    return reference, pd.concat(parts, ignore_index=True)


def write_reference(sample: pd.DataFrame, path: str | Path) -> Path:
    p = Path(path)
    sample.to_parquet(p, index=False)
    return p
