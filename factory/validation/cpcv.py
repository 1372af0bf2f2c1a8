"""Combinatorial purged cross-validation and its backtest paths (López de Prado, AFML ch. 12)."""

from __future__ import annotations

from itertools import combinations
from math import comb
from typing import Any, Iterator, Sequence

import numpy as np

from factory.errors import ConfigError, FactoryError
from factory.validation._spans import SpanSplitter, Spans, _positive_int, drop_near_block


class CombinatorialPurgedCV(SpanSplitter):
    """All ``C(n_groups, n_test_groups)`` train/test splits over contiguous groups, purged around each test group.

    The valid samples (``t1 >= 0``) in ``t0`` order are cut into ``n_groups`` contiguous groups of nearly equal
    size. Split ``s`` takes the ``s``-th combination of ``n_test_groups`` groups (in
    :func:`itertools.combinations` order) as the test set. Around *each* test group ``[lo, hi]`` (``lo`` its
    first entry, ``hi`` its last label end) training samples touching ``[lo - purge_bars, hi + embargo_bars]``
    are removed, exactly as in :class:`~factory.validation.purged_kfold.PurgedKFold`.

    Every group is tested in ``C(n_groups - 1, n_test_groups - 1)`` splits, which gives that many backtest
    paths (``phi = k / N * C(N, k)``): path ``p`` takes, for each group, its ``p``-th split (in split order)
    where the group is tested. Each path therefore predicts every labelled sample exactly once, always with a
    model that did not train on it. :meth:`paths` gives the split index per (path, group) and
    :meth:`reconstruct_paths` assembles per-split out-of-sample predictions into one series per path.
    """

    def __init__(
        self,
        n_groups: int = 6,
        n_test_groups: int = 2,
        purge_bars: int = 60,
        embargo_bars: int = 1440,
        min_embargo: int = 0,
        *,
        t0: Any = None,
        t1: Any = None,
        feature_warmup: int = 0,
        model_lookback: int = 0,
    ) -> None:
        self.n_groups = _positive_int("n_groups", n_groups, minimum=2)
        self.n_test_groups = _positive_int("n_test_groups", n_test_groups)
        if self.n_test_groups >= self.n_groups:
            raise ConfigError(f"n_test_groups ({n_test_groups}) must be smaller than n_groups ({n_groups})")
        super().__init__(purge_bars, embargo_bars, min_embargo, t0, t1, feature_warmup, model_lookback)

    @property
    def n_paths(self) -> int:
        """Number of backtest paths, ``C(n_groups - 1, n_test_groups - 1)``."""
        return comb(self.n_groups - 1, self.n_test_groups - 1)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return comb(self.n_groups, self.n_test_groups)

    def test_groups(self) -> list[tuple[int, ...]]:
        """The test groups of each split, in split order."""
        return list(combinations(range(self.n_groups), self.n_test_groups))

    def paths(self) -> np.ndarray:
        """Integer array ``(n_paths, n_groups)``: the split whose predictions path ``p`` uses for group ``g``."""
        out = np.empty((self.n_paths, self.n_groups), dtype=np.int64)
        seen = np.zeros(self.n_groups, dtype=np.int64)
        for s, combo in enumerate(self.test_groups()):
            for g in combo:
                out[seen[g], g] = s
                seen[g] += 1
        return out

    def groups(self, *, t0: Any = None, t1: Any = None) -> list[np.ndarray]:
        """Sample positions of each group (sorted), for the given spans or those from the constructor."""
        return [np.sort(g) for g in self._groups(self._resolve(None, t0, t1))]

    def _groups(self, spans: Spans) -> list[np.ndarray]:
        n = len(spans.order)
        if n < self.n_groups:
            raise FactoryError(f"cannot cut {n} labelled samples into {self.n_groups} groups")
        return np.array_split(spans.order, self.n_groups)

    def _split(self, spans: Spans) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        groups = self._groups(spans)
        for combo in self.test_groups():
            train = spans.valid.copy()
            for g in combo:
                train[groups[g]] = False
            # Per group rather than over the union: samples between two test groups stay usable when clear of both.
            for g in combo:
                lo, hi = int(spans.t0[groups[g]].min()), int(spans.t1[groups[g]].max())
                drop_near_block(train, spans, lo, hi, self.purge_bars, self.embargo_bars)
            yield np.flatnonzero(train), np.sort(np.concatenate([groups[g] for g in combo]))

    def reconstruct_paths(
        self, predictions_per_split: Sequence[Any], *, t0: Any = None, t1: Any = None
    ) -> np.ndarray:
        """Assemble out-of-sample predictions into backtest paths.

        ``predictions_per_split[s]`` holds the predictions of split ``s`` for its test samples, in the order of
        that split's ``test_idx`` (first axis; extra axes such as class probabilities are kept). Returns a
        float array ``(n_paths, n_samples, ...)``: row ``p`` is path ``p``'s prediction for every sample, NaN for
        samples without a valid label (never tested).
        """
        spans = self._resolve(None, t0, t1)
        groups = self._groups(spans)
        combos = self.test_groups()
        if len(predictions_per_split) != len(combos):
            raise FactoryError(
                f"expected predictions for {len(combos)} splits, got {len(predictions_per_split)}"
            )
        preds = [np.asarray(p, dtype=np.float64) for p in predictions_per_split]
        tests = [np.sort(np.concatenate([groups[g] for g in c])) for c in combos]
        for s, (p, test) in enumerate(zip(preds, tests)):
            if p.ndim == 0 or p.shape[0] != test.size:
                raise FactoryError(f"split {s} has {test.size} test samples but {p.shape[:1]} predictions")
        extra = preds[0].shape[1:]
        if any(p.shape[1:] != extra for p in preds):
            raise FactoryError("all splits' predictions must have the same trailing shape")
        out = np.full((self.n_paths, len(spans), *extra), np.nan)
        for p, row in enumerate(self.paths()):
            for g, s in enumerate(row):
                # test indices are sorted, so each group member's place among them is a binary search away
                out[p, groups[g]] = preds[s][np.searchsorted(tests[s], groups[g])]
        return out
