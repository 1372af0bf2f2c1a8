"""The reference sample logged inside every model: training-row model inputs the drift monitor compares against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE_ROWS = 5_000


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


def write_reference(sample: pd.DataFrame, path: str | Path) -> Path:
    p = Path(path)
    sample.to_parquet(p, index=False)
    return p
