"""The calibrated alert threshold: how far in-distribution windows of the configured size drift from the reference.

A drift share means little without its window size: at 200 rows a window of training-period inputs already moves a
fifth to a half of the columns past the per-column threshold, at 5,000 rows hardly any. So before it alerts on a
model version, the daemon cuts the version's null sample (contiguous training rows held out of the reference, see
:mod:`factory.packaging.reference`) into ``null_blocks`` blocks of the window size, scores each against the
reference with the live windows' own per-column statistic (:func:`monitoring.drift.column_scores`), and alerts
when a window's share is above the ``null_quantile`` of those shares. Blocks are contiguous rows, never resampled
ones: a short window of a time series sits inside one regime, and shuffled rows would understate how far it drifts.

The shares are computed once per model version, window size, method and the settings they depend on, and cached
as JSON under ``<state_dir>/null/``; a restart reads them back. A null whose quantile leaves no room above it
(every block already drifts on nearly every column) is reported at start-up with the smallest window size that
would leave room, when the null sample is long enough to find one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.config import MonitorConfig
from monitoring.drift import column_scores, compared_columns, drifted

logger = logging.getLogger(__name__)

# factory.packaging.reference.SEGMENT_COLUMN (not imported: the packaging package loads the feature code).
SEGMENT_COLUMN = "segment"

# Bump when the way blocks are placed or scored changes: older cache files then no longer match.
NULL_FORMAT = 1
# A null level above this leaves alerts only to windows where more than half of the columns move.
WEAK_LEVEL = 0.5
# Blocks per size when looking for the smallest useful window (an estimate for the warning, not a threshold).
PROBE_BLOCKS = 20


@dataclass(frozen=True)
class ShareThreshold:
    """The share a window must exceed to alert, and where it comes from."""

    mode: str  # "calibrated" or "fixed"
    threshold: float
    window_rows: int
    quantile: float | None = None
    level: float | None = None  # the null's quantile (== threshold when calibrated)
    blocks: int = 0
    null_max: float | None = None
    from_cache: bool = False
    seconds: float = 0.0
    disjoint_windows: int = 0  # non-overlapping windows the null sample holds: how firm the quantile is
    note: str | None = None  # why the threshold is fixed, or what the start-up warning said
    min_useful_rows: int | None = None

    def alert_fields(self) -> dict[str, Any]:
        """What every alert says about its threshold (``threshold`` itself is the effective one)."""
        return {"threshold_mode": self.mode, "null_quantile": self.quantile, "null_level": self.level,
                "null_blocks": self.blocks or None, "null_window_rows": self.window_rows if self.blocks else None}

    def describe(self) -> dict[str, Any]:
        return {"threshold_mode": self.mode, "effective_share_threshold": self.threshold,
                "null_quantile": self.quantile, "null_level": self.level, "null_blocks": self.blocks,
                "null_window_rows": self.window_rows}


def block_starts(lengths: list[int], window_rows: int, blocks: int) -> list[tuple[int, int]]:
    """(segment, first row) of up to ``blocks`` blocks, evenly spread over the segments long enough to hold one.

    Each segment gets blocks in proportion to the start positions it offers; blocks overlap when the segments are
    shorter than ``blocks`` disjoint windows (fewer independent blocks: the quantile is then a coarser estimate).
    """
    room = [max(n - window_rows + 1, 0) for n in lengths]
    total = sum(room)
    if total == 0:
        return []
    out = []
    for seg, r in enumerate(room):
        if r == 0:
            continue
        k = min(r, max(1, int(round(blocks * r / total))))
        out.extend((seg, int(s)) for s in np.unique(np.linspace(0, r - 1, k).round().astype(np.int64)))
    return out


def segments(null_sample: pd.DataFrame) -> list[pd.DataFrame]:
    """The null sample's contiguous stretches, in time order (one stretch when it has no ``segment`` column)."""
    if SEGMENT_COLUMN not in null_sample.columns:
        return [null_sample.reset_index(drop=True)]
    return [g.reset_index(drop=True) for _, g in null_sample.groupby(SEGMENT_COLUMN, sort=True)]


def null_shares(reference: pd.DataFrame, null_sample: pd.DataFrame, feature_names: list[str], settings,
                window_rows: int, blocks: int) -> np.ndarray:
    """Drift shares of contiguous ``window_rows`` blocks of ``null_sample`` against ``reference``.

    Empty when no stretch of the null sample holds ``window_rows`` rows.
    """
    parts = segments(null_sample)
    out = []
    for seg, lo in block_starts([len(p) for p in parts], window_rows, blocks):
        block = parts[seg].iloc[lo:lo + window_rows]
        columns, _ = compared_columns(feature_names, block, reference, settings.exclude_columns)
        if not columns:
            continue
        scores = column_scores(reference, block, columns, settings)
        out.append(len(drifted(scores, settings)) / len(columns))
    return np.asarray(out, dtype=float)


def quantile_level(shares: np.ndarray, q: float) -> float:
    """The ``q`` quantile of the null shares, read conservatively: their ``ceil((n + 1) q)``-th smallest.

    That order statistic (the split-conformal quantile) is exceeded by a new in-distribution window with
    probability at most ``1 - q`` when the blocks are exchangeable with it; the plain empirical quantile of ``n``
    blocks is exceeded more often (by ~``1 / (n + 1)`` for its maximum, whatever ``q``). Beyond the ``n`` blocks
    it is their maximum.
    """
    ordered = np.sort(np.asarray(shares, dtype=float))
    k = min(int(np.ceil((len(ordered) + 1) * q)), len(ordered))
    return float(ordered[k - 1])


def _cache_path(state_dir: str | Path, name: str, version: str, window_rows: int, settings, columns: list[str],
                blocks: int, null_rows: int) -> Path:
    matters = {"format": NULL_FORMAT, "method": settings.method, "column_threshold": settings.column_threshold,
               "exclude_columns": sorted(settings.exclude_columns), "blocks": blocks, "columns": columns,
               "null_rows": null_rows}
    digest = hashlib.sha256(json.dumps(matters, sort_keys=True).encode()).hexdigest()[:12]
    from serving.inference_log import folder_name  # one-to-one with the name, as the log folders and states

    stem = f"{folder_name(name)}-v{version}-{window_rows}rows-{settings.method}-{digest}"
    return Path(state_dir) / "null" / f"{stem}.json"


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _cached_shares(path: Path) -> np.ndarray | None:
    try:
        data = json.loads(path.read_text())
        shares = np.asarray(data["shares"], dtype=float)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or unreadable: computed again
    return shares if len(shares) else None


def window_rows_of(config: MonitorConfig) -> int:
    """Rows of the windows the null is measured for: the row count, or a time window's ``min_rows`` (the fewest
    rows a checked window holds, so the threshold errs towards fewer alerts on fuller windows)."""
    return int(config.window.rows or config.window.min_rows)


def share_threshold(ref, config: MonitorConfig) -> ShareThreshold:
    """The threshold the daemon alerts on for ``ref`` (a :class:`~monitoring.reference.ModelReference`)."""
    settings = config.drift
    rows = window_rows_of(config)
    if settings.threshold_mode == "fixed":
        return ShareThreshold("fixed", settings.share_threshold, rows)
    if ref.null_sample is None or ref.null_sample.empty:
        note = (f"{ref.uri} was logged without a held-out null sample: alerting on the fixed drift.share_threshold "
                f"{settings.share_threshold} (retrain to calibrate it to the window size)")
        logger.warning(note)
        return ShareThreshold("fixed", settings.share_threshold, rows, note=note)
    columns, _ = compared_columns(ref.feature_names, ref.null_sample, ref.sample, settings.exclude_columns)
    path = _cache_path(config.state_dir, ref.name, ref.version, rows, settings, columns, settings.null_blocks,
                       len(ref.null_sample))
    t0 = time.perf_counter()
    shares = _cached_shares(path)
    from_cache = shares is not None
    if shares is None:
        try:
            shares = null_shares(ref.sample, ref.null_sample, ref.feature_names, settings, rows, settings.null_blocks)
        except Exception as exc:  # noqa: BLE001 - bad held-out rows must not stop the daemon watching the model
            note = (f"{ref.uri}: the null of the drift share could not be computed ({exc}): alerting on the fixed "
                    f"drift.share_threshold {settings.share_threshold}")
            logger.warning(note)
            return ShareThreshold("fixed", settings.share_threshold, rows, note=note)
        if len(shares):
            _write_json(path, {"model_name": ref.name, "model_version": ref.version, "window_rows": rows,
                               "method": settings.method, "column_threshold": settings.column_threshold,
                               "exclude_columns": list(settings.exclude_columns), "n_columns": len(columns),
                               "seconds": round(time.perf_counter() - t0, 3), "shares": shares.tolist()})
    seconds = time.perf_counter() - t0
    if not len(shares):
        longest = max((len(p) for p in segments(ref.null_sample)), default=0)
        note = (f"{ref.uri}: the held-out null sample has no stretch of {rows} rows (longest {longest}): alerting "
                f"on the fixed drift.share_threshold {settings.share_threshold}")
        logger.warning(note)
        return ShareThreshold("fixed", settings.share_threshold, rows, note=note)
    level = quantile_level(shares, settings.null_quantile)
    disjoint = sum(len(p) // rows for p in segments(ref.null_sample))
    result = ShareThreshold("calibrated", level, rows, settings.null_quantile, level, len(shares),
                            float(shares.max()), from_cache, seconds, disjoint)
    logger.info("%s v%s: in-distribution %d-row windows drift on up to %.3f of the columns (q%g of %d blocks%s); "
                "alerting above that", ref.name, ref.version, rows, level, settings.null_quantile * 100, len(shares),
                ", cached" if from_cache else f", {seconds:.1f} s")
    needed = int(np.ceil(round(1 / (1 - settings.null_quantile), 6)))  # 100 for q = 0.99 (not 101 by rounding)
    if disjoint < needed:
        # Overlapping blocks smooth the estimate but add no independent windows: a tail the held-out rows never
        # reached stays unseen, and more in-distribution windows than 1 - q may exceed the level.
        logger.warning("%s v%s: the held-out null sample holds only %d disjoint windows of %d rows, fewer than the "
                       "%d a q%g needs: the calibrated threshold is a rough estimate (log more held-out rows with "
                       "training.null_rows, at least %d)", ref.name, ref.version, disjoint, rows, needed,
                       settings.null_quantile, needed * rows)
    if level > WEAK_LEVEL:
        return _warn_small(ref, config, result, path)
    return result


def _warn_small(ref, config: MonitorConfig, result: ShareThreshold, cache: Path) -> ShareThreshold:
    """Log that the window is too small for a shift to show, with the smallest size that would do if found.

    The search is cached beside the null's shares (``cache``), so a restart does not run it again."""
    settings = config.drift
    longest = max(len(p) for p in segments(ref.null_sample))
    try:
        useful = json.loads(cache.read_text())["min_useful_rows"]
    except (OSError, ValueError, KeyError, TypeError):
        useful = None
        rows = result.window_rows * 2
        while rows <= longest:
            shares = null_shares(ref.sample, ref.null_sample, ref.feature_names, settings, rows, PROBE_BLOCKS)
            if len(shares) and quantile_level(shares, settings.null_quantile) <= WEAK_LEVEL:
                useful = rows
                break
            rows *= 2
        try:
            cached = json.loads(cache.read_text())
            _write_json(cache, {**cached, "min_useful_rows": useful})
        except (OSError, ValueError):
            pass  # no cache to extend (unwritable state folder): searched again next time
    what = ("no window can exceed it: no drift will ever be reported" if result.level >= 1.0
            else f"only windows where more than {result.level:.0%} of the columns move will alert")
    hint = (f"use windows of at least ~{useful} rows" if useful
            else f"the null sample ({longest} rows a stretch) holds no window size that would do better")
    note = (f"{ref.name} v{ref.version}: window of {result.window_rows} rows is too small for a shift to be seen: "
            f"in-distribution windows of that size already drift on {result.level:.0%} of the columns at the "
            f"q{settings.null_quantile:g} of the null, so {what}; {hint}")
    logger.warning(note)
    return replace(result, note=note, min_useful_rows=useful)
