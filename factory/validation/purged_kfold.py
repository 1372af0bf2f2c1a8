"""K-fold cross-validation with purging and embargo (López de Prado, AFML ch. 7)."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from factory.errors import FactoryError
from factory.validation._spans import SpanSplitter, Spans, _positive_int, drop_near_block


class PurgedKFold(SpanSplitter):
    """K folds contiguous in time; each fold is the test set once, training on the rest minus the leaky part.

    The valid samples (``t1 >= 0``), in ``t0`` order, are cut into ``n_splits`` contiguous folds of nearly
    equal size. For the test fold with first entry ``lo = min t0`` and last label end ``hi = max t1``, a
    training sample is removed when its span ``[t0, t1]`` touches ``[lo - purge_bars, hi + embargo_bars]``:

    * purge: its label overlaps a test label, or ends less than ``purge_bars`` bars before ``lo``;
    * embargo: it starts within ``embargo_bars`` bars after ``hi``, so its features would read test bars.

    Training folds before and after the test fold are both used (the point of k-fold over walk-forward), so
    this suits model selection and not a time-ordered backtest. ``embargo_bars`` must cover the feature
    warm-up and model look-back: pass ``min_embargo`` (or ``feature_warmup``/``model_lookback``) and a shorter
    embargo raises :class:`~factory.errors.LeakageError` at construction.

    Label spans go to the constructor (``t0``, ``t1``: arrays of bar rows, one entry per sample), which makes
    the object a drop-in ``cv=`` for scikit-learn, or to ``split(X, t0=..., t1=...)``.
    """

    def __init__(
        self,
        n_splits: int = 5,
        purge_bars: int = 60,
        embargo_bars: int = 1440,
        min_embargo: int = 0,
        *,
        t0: Any = None,
        t1: Any = None,
        feature_warmup: int = 0,
        model_lookback: int = 0,
    ) -> None:
        self.n_splits = _positive_int("n_splits", n_splits, minimum=2)
        super().__init__(purge_bars, embargo_bars, min_embargo, t0, t1, feature_warmup, model_lookback)

    @classmethod
    def from_config(cls, config: Any, min_embargo: int = 0, **kwargs: Any) -> "PurgedKFold":
        """Build from a :class:`~factory.validation.config.SplitConfig`.

        Uses its ``n_splits``, ``purge_bars`` and ``embargo_bars``; other keywords go to the constructor.
        """
        return cls(config.n_splits, config.purge_bars, config.embargo_bars, min_embargo, **kwargs)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def _split(self, spans: Spans) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = len(spans.order)
        if n < self.n_splits:
            raise FactoryError(f"cannot cut {n} labelled samples into {self.n_splits} folds")
        for fold in np.array_split(spans.order, self.n_splits):
            train = spans.valid.copy()
            train[fold] = False
            drop_near_block(
                train, spans, int(spans.t0[fold].min()), int(spans.t1[fold].max()), self.purge_bars, self.embargo_bars
            )
            yield np.flatnonzero(train), np.sort(fold)
