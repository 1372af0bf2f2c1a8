"""Walk-forward validation: every test block lies after its training data, with a purge + embargo gap."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from factory.errors import ConfigError, FactoryError
from factory.validation._spans import SpanSplitter, Spans, _positive_int


class WalkForward(SpanSplitter):
    """Time-ordered train/test splits with an expanding or rolling training window.

    The valid samples (``t1 >= 0``) in ``t0`` order end with ``n_splits`` consecutive test blocks of
    ``test_size`` samples (default ``n_samples // (n_splits + 1)``, as scikit-learn's ``TimeSeriesSplit``).
    For a test block whose first entry is bar ``lo``, the training set is every sample whose label has ended
    more than ``purge_bars + embargo_bars`` bars earlier:

        t1 < lo - purge_bars - embargo_bars

    ``purge_bars`` keeps training labels clear of the test labels; the embargo keeps the test features'
    look-back window (feature warm-up + model look-back) off the bars that training labels were computed
    from, the same gap :func:`~factory.validation.splits.chronological_split` leaves between segments.
    No training sample starts after a test block, so nothing needs an embargo on that side.

    ``train_size=None`` gives an expanding window (all eligible past samples); an integer keeps only the
    most recent ``train_size`` eligible samples (rolling window). A fold whose training set is empty is an
    error: shrink ``n_splits``/``test_size`` or the gap.
    """

    def __init__(
        self,
        n_splits: int = 5,
        test_size: int | None = None,
        train_size: int | None = None,
        purge_bars: int = 60,
        embargo_bars: int = 1440,
        min_embargo: int = 0,
        *,
        t0: Any = None,
        t1: Any = None,
        feature_warmup: int = 0,
        model_lookback: int = 0,
    ) -> None:
        self.n_splits = _positive_int("n_splits", n_splits, minimum=1)
        self.test_size = None if test_size is None else _positive_int("test_size", test_size)
        self.train_size = None if train_size is None else _positive_int("train_size", train_size)
        super().__init__(purge_bars, embargo_bars, min_embargo, t0, t1, feature_warmup, model_lookback)

    @classmethod
    def from_config(cls, config: Any, min_embargo: int = 0, **kwargs: Any) -> "WalkForward":
        """Build from a :class:`~factory.validation.config.SplitConfig`.

        Uses its ``n_splits``, ``purge_bars`` and ``embargo_bars``; other keywords go to the constructor.
        """
        return cls(
            config.n_splits,
            purge_bars=config.purge_bars,
            embargo_bars=config.embargo_bars,
            min_embargo=min_embargo,
            **kwargs,
        )

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def _split(self, spans: Spans) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = spans.order
        n = len(order)
        test_size = self.test_size or n // (self.n_splits + 1)
        if test_size < 1 or self.n_splits * test_size >= n:
            raise ConfigError(
                f"walk-forward with n_splits={self.n_splits} and test_size={test_size} leaves no training data "
                f"among {n} labelled samples"
            )
        gap = self.purge_bars + self.embargo_bars
        # Training candidates in time order; their label end decides eligibility for each test block.
        t1_sorted = spans.t1[order]
        for k in range(self.n_splits):
            start = n - (self.n_splits - k) * test_size
            test = order[start : start + test_size]
            lo = int(spans.t0[test].min())
            train = order[:start][t1_sorted[:start] < lo - gap]
            if self.train_size is not None:
                train = train[-self.train_size :]
            if train.size == 0:
                raise FactoryError(
                    f"walk-forward fold {k}: no training sample ends before bar {lo - gap} "
                    f"(test starts at bar {lo}, purge_bars={self.purge_bars}, embargo_bars={self.embargo_bars})"
                )
            yield np.sort(train), np.sort(test)
