"""What a model sees at given sample rows, by its input kind: one function for fit, evaluation and serving.

The pipeline produces one 2-D matrix of model inputs (one row per bar: the scaled features and the HMM
probabilities) and the bars themselves. A model reads, at each sample row t:

* ``tabular``: the input row t, ``(n, F)``;
* ``window``: the ``L`` input rows ending at t, ``(n, L, F)`` (oldest first);
* ``price_window``: the last ``C`` closes ending at t, ``(n, C)``, as log prices relative to the close at t
  (``ln(c_{t-C+1+j} / c_t)``, so the last one is 0 and no price level leaks in). A model that prices the
  label barriers itself (``reads_barriers``) also gets, per sample, the barrier widths at t as log returns and
  the label horizon (:meth:`PriceContextView.barriers_at`), computed by the pipeline with the labels' own code
  (:mod:`factory.labels.barriers`).

:func:`model_input` builds them. Windows and price contexts are *views*: they keep a reference to the 2-D
matrix (or the closes) and the sample rows, and gather one batch at a time by index (:meth:`batch`), so a
training set is never materialised as ``(n, L, F)`` (69k samples x 64 bars x 196 inputs would be 3.5 GB of
float32). A window never reaches before the first valid input row: asking for one is an error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from factory.models.errors import ModelInputError

INPUT_KINDS = ("tabular", "window", "price_window")


class WindowView:
    """Windows ``(n, L, F)`` ending at ``rows`` of a 2-D ``matrix`` (n_bars, F), gathered per batch.

    ``matrix`` is kept by reference (a C-contiguous float array); ``rows`` are the window end rows.
    """

    kind = "window"

    def __init__(self, matrix: np.ndarray, rows: Any, length: int, feature_names: list[str] | None = None,
                 first_valid: int = 0) -> None:
        self.matrix = np.ascontiguousarray(matrix)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.length = int(length)
        self.feature_names = None if feature_names is None else list(feature_names)
        if self.matrix.ndim != 2:
            raise ModelInputError(f"window source must be a 2-D (bars x inputs) matrix, got shape {self.matrix.shape}")
        if self.length < 1:
            raise ModelInputError(f"window length must be >= 1, got {self.length}")
        if self.rows.ndim != 1:
            raise ModelInputError(f"window end rows must be 1-D, got shape {self.rows.shape}")
        if self.rows.size:
            lo, hi = int(self.rows.min()), int(self.rows.max())
            if hi >= len(self.matrix):
                raise ModelInputError(f"window end row {hi} is past the last input row {len(self.matrix) - 1}")
            if lo - self.length + 1 < first_valid:
                raise ModelInputError(
                    f"a window of {self.length} bars ending at row {lo} starts at row {lo - self.length + 1}, before "
                    f"the first valid input row {first_valid}: give more history or drop the earliest samples")
        self._offsets = np.arange(-self.length + 1, 1, dtype=np.int64)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.rows), self.length, self.matrix.shape[1])

    @property
    def dtype(self):
        return self.matrix.dtype

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, idx: Any = None) -> np.ndarray:
        """The windows of samples ``idx`` (all when None) as a new ``(b, L, F)`` array."""
        ends = self.rows if idx is None else self.rows[idx]
        return self.matrix[ends[:, None] + self._offsets[None, :]]

    def subset(self, idx: Any) -> "WindowView":
        return WindowView(self.matrix, self.rows[idx], self.length, self.feature_names)

    def span(self) -> tuple[int, int]:
        """(first, last) input row any window reads."""
        return int(self.rows.min()) - self.length + 1, int(self.rows.max())

    def __repr__(self) -> str:
        return f"WindowView(n={len(self)}, length={self.length}, channels={self.matrix.shape[1]})"


class ArrayWindows(WindowView):
    """An already materialised ``(n, L, F)`` array behind the :class:`WindowView` interface (tests, toy data)."""

    def __init__(self, array: np.ndarray, feature_names: list[str] | None = None) -> None:
        arr = np.asarray(array)
        if arr.ndim != 3:
            raise ModelInputError(f"windows must be 3-D (samples x window x channels), got shape {arr.shape}")
        self.array = arr
        self.matrix = arr.reshape(-1, arr.shape[2])  # only its width and dtype are read through this name
        self.rows = np.arange(arr.shape[0], dtype=np.int64)
        self.length = int(arr.shape[1])
        self.feature_names = None if feature_names is None else list(feature_names)

    def batch(self, idx: Any = None) -> np.ndarray:
        return self.array if idx is None else self.array[idx]

    def subset(self, idx: Any) -> "ArrayWindows":
        return ArrayWindows(self.array[idx], self.feature_names)

    def span(self) -> tuple[int, int]:
        return 0, len(self.matrix) - 1


class PriceContextView:
    """The last ``length`` closes ending at each of ``rows``, as log prices relative to the close at the row."""

    kind = "price_window"

    def __init__(self, close: Any, rows: Any, length: int, first_valid: int = 0, barriers=None) -> None:
        """``barriers``: optional :class:`~factory.labels.barriers.BarrierWidths` aligned on ``close``."""
        self.close = np.ascontiguousarray(np.asarray(close, dtype=np.float64))
        self.rows = np.asarray(rows, dtype=np.int64)
        self.length = int(length)
        self.barriers = barriers
        if barriers is not None and (len(barriers.up) != len(self.close) or len(barriers.down) != len(self.close)):
            raise ModelInputError(f"barrier widths cover {len(barriers.up)} bars but the closes {len(self.close)}")
        if self.close.ndim != 1:
            raise ModelInputError(f"closes must be 1-D, got shape {self.close.shape}")
        if self.length < 2:
            raise ModelInputError(f"a price context needs at least 2 closes, got {self.length}")
        if self.rows.size:
            lo, hi = int(self.rows.min()), int(self.rows.max())
            if hi >= len(self.close):
                raise ModelInputError(f"context end row {hi} is past the last bar {len(self.close) - 1}")
            if lo - self.length + 1 < first_valid:
                raise ModelInputError(
                    f"a context of {self.length} closes ending at row {lo} starts before row {first_valid}")
            if not (np.isfinite(self.close[lo - self.length + 1: hi + 1]).all()
                    and (self.close[lo - self.length + 1: hi + 1] > 0).all()):
                raise ModelInputError("price contexts need finite, positive closes")
        self._offsets = np.arange(-self.length + 1, 1, dtype=np.int64)
        self._log = np.log(np.where(self.close > 0, self.close, np.nan))

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), self.length)

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, idx: Any = None) -> np.ndarray:
        """``(b, C)`` log prices ``ln(c_{t-C+1+j} / c_t)``."""
        ends = self.rows if idx is None else self.rows[idx]
        lp = self._log[ends[:, None] + self._offsets[None, :]]
        return lp - lp[:, -1:]

    @property
    def horizon(self) -> int | None:
        """The label horizon in bars (None when the view carries no barriers)."""
        return None if self.barriers is None else int(self.barriers.horizon)

    def barriers_at(self, idx: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``(up, down)`` barrier widths (log returns, positive) at the context ends of samples ``idx``."""
        if self.barriers is None:
            raise ModelInputError("this model prices the label barriers, but its price contexts carry none: build "
                                  "them with factory.models.views.model_input(..., barriers=...)")
        ends = self.rows if idx is None else self.rows[idx]
        return self.barriers.at(ends)

    def subset(self, idx: Any) -> "PriceContextView":
        return PriceContextView(self.close, self.rows[idx], self.length, barriers=self.barriers)

    def __repr__(self) -> str:
        return f"PriceContextView(n={len(self)}, length={self.length})"


class ArrayContexts(PriceContextView):
    """Already computed ``(n, C)`` relative log prices behind the :class:`PriceContextView` interface."""

    def __init__(self, array: np.ndarray, barriers=None) -> None:
        """``barriers``: optional :class:`~factory.labels.barriers.BarrierWidths` with one entry per sample."""
        arr = np.asarray(array, dtype=np.float64)
        if arr.ndim != 2:
            raise ModelInputError(f"price contexts must be 2-D (samples x closes), got shape {arr.shape}")
        self.array = arr
        self.rows = np.arange(arr.shape[0], dtype=np.int64)
        self.length = int(arr.shape[1])
        self.barriers = barriers
        if barriers is not None and (len(barriers.up) != len(arr) or len(barriers.down) != len(arr)):
            raise ModelInputError(f"barrier widths cover {len(barriers.up)} samples but the contexts {len(arr)}")

    def batch(self, idx: Any = None) -> np.ndarray:
        return self.array if idx is None else self.array[idx]

    def subset(self, idx: Any) -> "ArrayContexts":
        from factory.labels.barriers import BarrierWidths

        b = self.barriers
        return ArrayContexts(self.array[idx], None if b is None else BarrierWidths(b.up[idx], b.down[idx], b.horizon))


def model_input(model, inputs: pd.DataFrame, close: Any, rows: Any, *, first_valid: int = 0, barriers=None):
    """What ``model`` reads at sample ``rows`` of the input matrix ``inputs`` and the closes ``close``.

    ``inputs`` has one row per bar of a contiguous stretch, its index holding the bar positions (a dataset's
    whole matrix, or the rows a served request needs); ``close`` covers every bar, and ``rows`` and
    ``first_valid`` are bar positions. Tabular models get the rows of the frame (with its column names);
    window models a :class:`WindowView` of ``model.window_length`` rows; price models a
    :class:`PriceContextView` of ``model.window_length`` closes. ``first_valid`` is the first bar whose inputs
    are defined (their lookback): no window may reach before it (closes are valid from the first bar on).
    ``barriers`` (:class:`~factory.labels.barriers.BarrierWidths` aligned on ``close``) travel with the price
    contexts of models that read them (``reads_barriers``).
    """
    rows = np.asarray(rows, dtype=np.int64)
    kind = model.input_kind
    offset = _offset(inputs)
    if kind == "tabular":
        return inputs.iloc[rows - offset]
    if kind == "window":
        return WindowView(inputs.to_numpy(), rows - offset, model.window_length, list(inputs.columns),
                          max(0, first_valid - offset))
    if kind == "price_window":
        if getattr(model, "reads_barriers", False) and barriers is None:
            raise ModelInputError(f"model '{model.key}' prices the label barriers: give model_input their widths")
        return PriceContextView(close, rows, model.window_length,
                                barriers=barriers if getattr(model, "reads_barriers", False) else None)
    raise ModelInputError(f"unknown input kind {kind!r}; expected one of {INPUT_KINDS}")


def _offset(inputs: pd.DataFrame) -> int:
    """Bar position of the frame's first row; the index must be the contiguous positions of its rows."""
    idx = inputs.index
    if len(idx) == 0:
        return 0
    start = int(idx[0])
    if not (isinstance(idx, pd.RangeIndex) and idx.step == 1) and not np.array_equal(
            np.asarray(idx), np.arange(start, start + len(idx))):
        raise ModelInputError("the input matrix must cover a contiguous stretch of bars (its index their positions)")
    return start
