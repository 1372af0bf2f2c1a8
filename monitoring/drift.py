"""One drift check: a window of served model inputs against the model's reference sample, with Evidently.

The comparison is Evidently's ``DataDriftPreset`` with one pinned per-column method and threshold for every
column (``mlproject/monitoring.yaml``: Wasserstein distance normed by the reference standard deviation, 0.75), so a
column's score means the same thing from one window to the next and does not depend on the window's size the way
a p-value does. The window's drift share is the fraction of compared columns that drift; the window drifts when
that share is above ``share_threshold``.

Evidently renders its HTML while it computes, so the report costs about as much as the check; both run with one
BLAS thread, which on a busy machine is faster than several threads competing for the cores.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.config import DriftConfig


@dataclass
class DriftResult:
    """Scores of one window: per-column score, which columns drift, the share, and the Evidently snapshot."""

    drift_share: float
    drifted_columns: list[str]
    scores: dict[str, float]
    n_columns: int
    drift: bool
    method: str
    column_threshold: float
    share_threshold: float
    skipped_columns: list[str] = field(default_factory=list)
    snapshot: Any = None

    def save_html(self, path: str | Path) -> Path:
        """Write the Evidently report to ``path`` atomically (temporary file, then rename)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        self.snapshot.save_html(str(tmp))
        os.replace(tmp, p)
        return p


def compared_columns(feature_names: list[str], current: pd.DataFrame, reference: pd.DataFrame,
                     exclude: list[str] = ()) -> tuple[list[str], list[str]]:
    """(columns to compare, columns left out): the model's features present and not entirely missing in both."""
    excluded = set(exclude)
    use, skipped = [], []
    for c in feature_names:
        if c in excluded:
            continue
        ok = (c in current.columns and c in reference.columns and current[c].notna().any()
              and reference[c].notna().any())
        (use if ok else skipped).append(c)
    return use, skipped


def _numeric(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame[columns]
    bad = [c for c in columns if not pd.api.types.is_float_dtype(out[c])]
    if bad:
        out = out.astype({c: "float64" for c in bad})
    return out.replace([np.inf, -np.inf], np.nan)


def check_drift(reference: pd.DataFrame, current: pd.DataFrame, feature_names: list[str],
                settings: DriftConfig) -> DriftResult:
    """Compare ``current`` with ``reference`` on ``feature_names`` (less the excluded ones)."""
    with warnings.catch_warnings():
        # Importing Evidently raises deprecation warnings from its own dependencies.
        warnings.simplefilter("ignore")
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset
    from threadpoolctl import threadpool_limits

    columns, skipped = compared_columns(feature_names, current, reference, settings.exclude_columns)
    if not columns:
        raise ValueError("no model input column is present in both the window and the reference sample")
    definition = DataDefinition(numerical_columns=columns)
    preset = DataDriftPreset(columns=columns, num_method=settings.method, num_threshold=settings.column_threshold,
                             drift_share=settings.share_threshold, include_tests=False)
    with threadpool_limits(1), warnings.catch_warnings():
        # Evidently and plotly warn about pandas idioms they use; nothing the user can act on.
        warnings.simplefilter("ignore")
        snapshot = Report([preset]).run(Dataset.from_pandas(_numeric(current, columns), data_definition=definition),
                                        Dataset.from_pandas(_numeric(reference, columns), data_definition=definition))
    scores = _column_scores(snapshot.dict(), columns)
    if settings.is_distance:
        drifted = [c for c in columns if scores[c] >= settings.column_threshold]
    else:
        drifted = [c for c in columns if scores[c] < settings.column_threshold]
    share = len(drifted) / len(columns)
    return DriftResult(drift_share=share, drifted_columns=drifted, scores=scores, n_columns=len(columns),
                       drift=share > settings.share_threshold, method=settings.method,
                       column_threshold=settings.column_threshold, share_threshold=settings.share_threshold,
                       skipped_columns=skipped, snapshot=snapshot)


def _column_scores(snapshot: dict, columns: list[str]) -> dict[str, float]:
    """Per-column scores of the preset's ``ValueDrift`` metrics (NaN where Evidently gave none)."""
    scores: dict[str, float] = {}
    for metric in snapshot.get("metrics", []):
        config = metric.get("config") or {}
        if config.get("type", "").endswith(":ValueDrift") and config.get("column") in columns:
            value = metric.get("value")
            scores[config["column"]] = float(value) if value is not None else float("nan")
    return {c: scores.get(c, float("nan")) for c in columns}
