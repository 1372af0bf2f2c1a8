"""Label spans, the purge / embargo rule and the embargo-length check shared by every splitter.

A sample ``i`` is known by its label span ``[t0[i], t1[i]]`` in bar rows: ``t0`` is the bar where the
position is entered, ``t1`` the row where its triple-barrier label ends (``t1 >= t0``). A negative ``t1``
(or NaN) marks a sample without a valid label; such samples never appear in any train or test set.

The purge / embargo rule around one contiguous test block, with ``lo`` = the smallest test ``t0`` and
``hi`` = the largest test ``t1``, removes training sample ``i`` when

    t1[i] >= lo - purge_bars   and   t0[i] <= hi + embargo_bars

i.e. when its span touches ``[lo - purge_bars, hi + embargo_bars]``. Spans overlapping ``[lo - purge_bars, hi]``
are *purged* (their label shares bars with the test labels, or ends less than ``purge_bars`` before the test
starts); spans starting in ``(hi, hi + embargo_bars]`` are *embargoed* (their features look back into the test
period). What survives ends before ``lo - purge_bars`` or starts after ``hi + embargo_bars``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from factory.errors import ConfigError, FactoryError, LeakageError


def required_embargo(feature_warmup: int, model_lookback: int = 0) -> int:
    """Shortest safe embargo in bars: the feature warm-up plus the model look-back.

    A model input at bar ``t`` stacks ``model_lookback`` feature rows, each of which reads ``feature_warmup``
    bars back, so its information reaches ``feature_warmup + model_lookback`` bars into the past.
    """
    return int(feature_warmup) + int(model_lookback)


def check_embargo(embargo_bars: int, feature_warmup: int, model_lookback: int = 0) -> None:
    """Raise :class:`LeakageError` when ``embargo_bars`` does not cover the feature warm-up and model look-back.

    A shorter embargo lets training samples just after a test block (or a validation block just after
    training) compute features from bars of the other set, which is a leak and therefore an error.
    """
    for name, value in (("feature_warmup", feature_warmup), ("model_lookback", model_lookback)):
        _non_negative_int(name, value)
    need = required_embargo(feature_warmup, model_lookback)
    if int(embargo_bars) >= need:
        return
    if model_lookback:
        what = (
            f"the feature warm-up ({feature_warmup} bars) plus the model look-back "
            f"({model_lookback} bars) = {need} bars"
        )
    else:
        what = f"the feature warm-up ({feature_warmup} bars)"
    raise LeakageError(
        f"embargo_bars={embargo_bars} is shorter than {what}: features of samples next to a test block "
        f"would read bars of that block; set embargo_bars >= {need}"
    )


def check_min_embargo(embargo_bars: int, min_embargo: int) -> None:
    """Raise :class:`LeakageError` when ``embargo_bars`` is below a required minimum computed by the caller."""
    _non_negative_int("min_embargo", min_embargo)
    if int(embargo_bars) < int(min_embargo):
        raise LeakageError(
            f"embargo_bars={embargo_bars} is shorter than the required minimum embargo ({min_embargo} bars, "
            f"the longest feature warm-up / model look-back in use); set embargo_bars >= {min_embargo}"
        )


def _non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Spans:
    """Validated label spans: ``t0``/``t1`` as int64 (invalid ``t1`` set to -1) and the valid samples in time order."""

    t0: np.ndarray
    t1: np.ndarray
    valid: np.ndarray
    order: np.ndarray  # positions of valid samples sorted by t0 (stable), i.e. chronological sample order

    def __len__(self) -> int:
        return len(self.t0)


def as_spans(t0: Any, t1: Any) -> Spans:
    """Check and normalise label spans (1-D, same length, integer rows, ``t1 >= t0`` where valid)."""
    a0 = np.asarray(t0)
    a1 = np.asarray(t1)
    if a0.ndim != 1 or a1.ndim != 1 or a0.shape != a1.shape:
        raise FactoryError(f"t0 and t1 must be 1-D arrays of the same length, got shapes {a0.shape} and {a1.shape}")
    i0 = _rows("t0", a0, allow_missing=False)
    i1 = _rows("t1", a1, allow_missing=True)
    if np.any(i0 < 0):
        raise FactoryError(f"t0 must be >= 0 (bar rows), first negative at sample {int(np.argmax(i0 < 0))}")
    valid = i1 >= 0
    i1[~valid] = -1
    bad = valid & (i1 < i0)
    if bad.any():
        k = int(np.argmax(bad))
        raise FactoryError(f"label span ends before it starts at sample {k}: t0={i0[k]}, t1={i1[k]}")
    pos = np.flatnonzero(valid)
    order = pos[np.argsort(i0[pos], kind="stable")]
    for arr in (i0, i1, valid, order):
        arr.setflags(write=False)
    return Spans(i0, i1, valid, order)


def _rows(name: str, a: np.ndarray, *, allow_missing: bool) -> np.ndarray:
    """Integer row numbers as int64; with ``allow_missing`` a NaN becomes -1 (no valid label)."""
    if a.dtype.kind in "iu":
        return a.astype(np.int64, copy=True)
    if a.dtype.kind != "f":
        raise FactoryError(f"{name} must hold integer bar rows, got dtype {a.dtype}")
    missing = np.isnan(a)
    if missing.any() and not allow_missing:
        raise FactoryError(f"{name} has missing values (first at sample {int(np.argmax(missing))})")
    filled = np.where(missing, -1.0, a)
    if np.any(filled != np.round(filled)) or np.any(~np.isfinite(filled)):
        raise FactoryError(f"{name} must hold integer bar rows, got non-integer values")
    return filled.astype(np.int64)


def drop_near_block(
    train: np.ndarray, spans: Spans, lo: int, hi: int, purge_bars: int, embargo_bars: int
) -> tuple[int, int]:
    """Clear, in the boolean ``train`` mask, samples purged or embargoed around the test block ``[lo, hi]``.

    Returns ``(n_purged, n_embargoed)`` counted among samples that were still in ``train``.
    """
    near = train & (spans.t1 >= lo - purge_bars) & (spans.t0 <= hi + embargo_bars)
    n_embargoed = int(np.count_nonzero(near & (spans.t0 > hi)))
    train &= ~near
    return int(np.count_nonzero(near)) - n_embargoed, n_embargoed


class SpanSplitter:
    """Common machinery of the purged cross-validators: settings, span lookup and the sklearn protocol.

    Label spans can be given once at construction (``t0=..., t1=...``), which is what sklearn's
    ``cross_val_score(model, X, y, cv=splitter)`` needs, or per call as ``split(X, t0=..., t1=...)``.
    ``X`` is only used to check that it has one row per sample.
    """

    def __init__(
        self,
        purge_bars: int,
        embargo_bars: int,
        min_embargo: int,
        t0: Any,
        t1: Any,
        feature_warmup: int,
        model_lookback: int,
    ) -> None:
        self.purge_bars = _non_negative_int("purge_bars", purge_bars)
        self.embargo_bars = _non_negative_int("embargo_bars", embargo_bars)
        self.min_embargo = _non_negative_int("min_embargo", min_embargo)
        check_min_embargo(self.embargo_bars, self.min_embargo)
        check_embargo(self.embargo_bars, feature_warmup, model_lookback)
        if (t0 is None) != (t1 is None):
            raise FactoryError("give both t0 and t1 (label spans), or neither")
        self._spans = as_spans(t0, t1) if t0 is not None else None

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        raise NotImplementedError

    def _resolve(self, X: Any, t0: Any, t1: Any) -> Spans:
        if (t0 is None) != (t1 is None):
            raise FactoryError("give both t0 and t1 (label spans), or neither")
        spans = as_spans(t0, t1) if t0 is not None else self._spans
        if spans is None:
            raise FactoryError(
                f"{type(self).__name__} needs label spans: pass t0 and t1 to the constructor or to split()"
            )
        if X is not None and len(X) != len(spans):
            raise FactoryError(f"X has {len(X)} rows but the label spans describe {len(spans)} samples")
        return spans

    def split(
        self, X: Any = None, y: Any = None, groups: Any = None, *, t0: Any = None, t1: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, test_idx)``: sorted sample positions into ``t0``/``t1`` (and ``X``)."""
        yield from self._split(self._resolve(X, t0, t1))

    def _split(self, spans: Spans) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        keys = [k for k in vars(self) if not k.startswith("_")]
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in keys)})"
