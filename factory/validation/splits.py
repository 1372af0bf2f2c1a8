"""Chronological train / validation / test split with purge and embargo gaps between the segments.

Segments are cut by row fractions of the bar range ``[start, end)`` spanned by the valid entries (``start`` =
first entry bar, ``end`` = one past the last; or ``[0, n_bars)`` when ``n_bars`` is given)::

    start ........ train_end | embargo | val_start ....... val_end | embargo | test_start ........ end
      train entries (t0)        (gap)    val entries (t0)             (gap)    test entries (t0)

``train_end = start + round(train_frac * span)`` and ``val_end = start + round((train_frac + val_frac) * span)``.
A sample belongs to the segment its entry bar ``t0`` falls in; entries inside a gap are dropped
(*embargoed*). Within the training and validation segments a sample is also dropped (*purged*) when its
label end ``t1`` reaches ``segment_end - purge_bars`` or later.

Why this layout: everything a training sample knows (its features and its label) lies in bars before
``train_end - purge_bars``, while a validation sample's features read at most ``embargo_bars`` bars back from
``val_start = train_end + embargo_bars``, i.e. never before ``train_end``. So with ``embargo_bars`` >= feature
warm-up + model look-back, validation inputs never see bars that training labels were computed from, and
the label spans of consecutive segments are at least ``purge_bars + embargo_bars`` bars apart. The same holds
between validation and test. Samples without a valid label (``t1 < 0``) are excluded everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from factory.errors import FactoryError
from factory.validation._spans import (
    _non_negative_int,
    as_spans,
    check_embargo,
    check_min_embargo,
    required_embargo,
)
from factory.validation.config import SplitConfig

__all__ = ["Boundaries", "SplitResult", "chronological_split", "check_embargo", "required_embargo"]


@dataclass(frozen=True)
class Boundaries:
    """Segment limits in bar rows; every interval is half-open ``[a, b)``."""

    start: int
    train_end: int
    val_start: int
    val_end: int
    test_start: int
    end: int

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass(frozen=True)
class SplitResult:
    """Sample positions (sorted, into ``t0``/``t1``) of each segment plus what was dropped and why."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    boundaries: Boundaries
    n_invalid: int
    n_purged_train: int
    n_purged_val: int
    n_embargoed_val: int
    n_embargoed_test: int
    purge_bars: int
    embargo_bars: int

    def summary(self) -> dict[str, Any]:
        """Counts and boundaries as plain numbers (for logging / MLflow params)."""
        return {
            "n_train": int(self.train.size),
            "n_val": int(self.val.size),
            "n_test": int(self.test.size),
            "n_invalid": self.n_invalid,
            "n_purged_train": self.n_purged_train,
            "n_purged_val": self.n_purged_val,
            "n_embargoed_val": self.n_embargoed_val,
            "n_embargoed_test": self.n_embargoed_test,
            "purge_bars": self.purge_bars,
            "embargo_bars": self.embargo_bars,
            **self.boundaries.as_dict(),
        }


def chronological_split(
    t0: Any,
    t1: Any,
    config: SplitConfig | None = None,
    min_embargo: int = 0,
    *,
    feature_warmup: int = 0,
    model_lookback: int = 0,
    n_bars: int | None = None,
) -> SplitResult:
    """Split labelled samples into train < val < test in time, with purge and embargo gaps (see module doc).

    ``min_embargo`` (or ``feature_warmup`` / ``model_lookback``) is the shortest embargo the features and
    model allow; a config whose ``embargo_bars`` is shorter raises :class:`~factory.errors.LeakageError`.
    ``n_bars`` pins the bar range to ``[0, n_bars)`` (the whole bar frame) instead of the labelled range.
    Raises :class:`~factory.errors.FactoryError` when a segment ends up empty.
    """
    cfg = config or SplitConfig()
    purge, embargo = cfg.purge_bars, cfg.embargo_bars
    check_min_embargo(embargo, _non_negative_int("min_embargo", min_embargo))
    check_embargo(embargo, feature_warmup, model_lookback)
    spans = as_spans(t0, t1)
    if spans.order.size == 0:
        raise FactoryError("no sample has a valid label (t1 >= 0); nothing to split")
    t0a, t1a, valid = spans.t0, spans.t1, spans.valid

    if n_bars is None:
        start, end = int(t0a[valid].min()), int(t0a[valid].max()) + 1
    else:
        start, end = 0, _non_negative_int("n_bars", n_bars)
        if int(t1a[valid].max()) >= end:
            raise FactoryError(f"label spans reach bar {int(t1a[valid].max())}, beyond n_bars={end}")
    span = end - start
    train_end = start + int(round(cfg.train_frac * span))
    val_end = start + int(round((cfg.train_frac + cfg.val_frac) * span))
    b = Boundaries(start, train_end, train_end + embargo, val_end, val_end + embargo, end)

    def entered(lo: int, hi: int) -> np.ndarray:
        return valid & (t0a >= lo) & (t0a < hi)

    in_train, in_val, in_test = entered(start, b.train_end), entered(b.val_start, b.val_end), entered(b.test_start, end)
    # A label running up to (or past) its segment's end would share bars with the next segment's look-back.
    purged_train = in_train & (t1a >= b.train_end - purge)
    purged_val = in_val & (t1a >= b.val_end - purge)
    result = SplitResult(
        train=np.flatnonzero(in_train & ~purged_train),
        val=np.flatnonzero(in_val & ~purged_val),
        test=np.flatnonzero(in_test),
        boundaries=b,
        n_invalid=int(np.count_nonzero(~valid)),
        n_purged_train=int(np.count_nonzero(purged_train)),
        n_purged_val=int(np.count_nonzero(purged_val)),
        n_embargoed_val=int(np.count_nonzero(entered(b.train_end, b.val_start))),
        n_embargoed_test=int(np.count_nonzero(entered(b.val_end, b.test_start))),
        purge_bars=purge,
        embargo_bars=embargo,
    )
    empty = [name for name in ("train", "val", "test") if getattr(result, name).size == 0]
    if empty:
        raise FactoryError(
            f"chronological split leaves no {' / '.join(empty)} samples: {span} bars from {start} with "
            f"train_frac={cfg.train_frac}, val_frac={cfg.val_frac}, purge_bars={purge}, embargo_bars={embargo} "
            f"(counts: {result.summary()})"
        )
    return result
