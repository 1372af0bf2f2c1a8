"""One drift check: a window of served model inputs against the model's reference sample, with Evidently.

The comparison is Evidently's ``DataDriftPreset`` with one pinned per-column method and threshold for every
column (``mlproject/monitoring.yaml``: Wasserstein distance normed by the reference standard deviation, 0.75), so a
column's score means the same thing from one window to the next and does not depend on the window's size the way
a p-value does. The window's drift share is the fraction of compared columns that drift; the window drifts when
that share is above the threshold (``share_threshold``, or the calibrated one of :mod:`monitoring.calibration`).

:func:`column_scores` computes the same per-column scores without building a report (Evidently's own stattest,
called the way its ``ValueDrift`` metric calls it), for the many blocks of the calibration.

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


def drifted(scores: dict[str, float], settings: DriftConfig) -> list[str]:
    """The columns whose score means drift under ``settings`` (distances at or above, p-values below)."""
    if settings.is_distance:
        return [c for c, v in scores.items() if v >= settings.column_threshold]
    return [c for c, v in scores.items() if v < settings.column_threshold]


def column_scores(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str],
                  settings: DriftConfig) -> dict[str, float]:
    """Per-column scores of ``current`` against ``reference``, equal to those :func:`check_drift` reports.

    Evidently's ``ValueDrift`` drops missing and infinite values, then calls the registered stattest of the method;
    so does this, on the same float columns, with no report around it (about 1 ms a column instead of tens).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently.legacy.calculations.stattests.registry import get_stattest
        from evidently.legacy.core import ColumnType

    ref, cur = _numeric(reference, columns), _numeric(current, columns)
    out = {}
    for c in columns:
        r, k = ref[c].dropna(), cur[c].dropna()
        if r.empty or k.empty:
            out[c] = float("nan")
            continue
        test = get_stattest(r, k, ColumnType.Numerical, settings.method)
        out[c] = float(test(r, k, ColumnType.Numerical, settings.column_threshold).drift_score)
    return out


def check_drift(reference: pd.DataFrame, current: pd.DataFrame, feature_names: list[str],
                settings: DriftConfig, share_threshold: float | None = None) -> DriftResult:
    """Compare ``current`` with ``reference`` on ``feature_names`` (less the excluded ones).

    The window drifts when its share is above ``share_threshold`` (default: ``settings.share_threshold``).
    """
    threshold = settings.share_threshold if share_threshold is None else float(share_threshold)
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
    moved = drifted(scores, settings)
    share = len(moved) / len(columns)
    return DriftResult(drift_share=share, drifted_columns=moved, scores=scores, n_columns=len(columns),
                       drift=share > threshold, method=settings.method,
                       column_threshold=settings.column_threshold, share_threshold=threshold,
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
