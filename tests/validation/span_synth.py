"""Synthetic label spans and an independent, brute-force leakage checker for the splitter tests.

The checker works pairwise on (train sample, test sample) and does not reuse the library's purge code, so
the splitters are judged against the definition rather than against themselves.
"""

from __future__ import annotations

import numpy as np


def make_spans(
    seed: int,
    n: int = 300,
    *,
    max_len: int = 40,
    max_step: int = 3,
    invalid_frac: float = 0.05,
    shuffle: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping label spans of variable length: entries a few bars apart (ties allowed), some invalid."""
    rng = np.random.default_rng(seed)
    t0 = np.cumsum(rng.integers(0, max_step + 1, n)) + int(rng.integers(0, 50))
    # Mostly short labels with a heavy tail, as a triple barrier with a vertical barrier produces.
    length = np.minimum(rng.geometric(3.0 / (max_len + 3), n) - 1, max_len)
    t1 = t0 + length
    t1[rng.random(n) < invalid_frac] = -1
    if shuffle:
        perm = rng.permutation(n)
        t0, t1 = t0[perm], t1[perm]
    return t0.astype(np.int64), t1.astype(np.int64)


def leaks(
    train: np.ndarray, test: np.ndarray, t0: np.ndarray, t1: np.ndarray, purge: int = 0, embargo: int = 0
) -> dict[str, int]:
    """Count violations of the split invariants; all zero means the split is clean.

    * ``shared``: positions in both train and test;
    * ``invalid``: samples without a valid label (t1 < 0) used at all;
    * ``overlap``: train / test pairs whose label spans share a bar;
    * ``purge``: a training label ending less than ``purge`` bars before a test entry (without overlapping);
    * ``embargo``: a training entry within ``embargo`` bars after a test label's end.
    """
    train = np.asarray(train)
    test = np.asarray(test)
    a0, a1 = t0[train][:, None], t1[train][:, None]
    b0, b1 = t0[test][None, :], t1[test][None, :]
    overlap = (a0 <= b1) & (b0 <= a1)
    purge_zone = ~overlap & (a1 < b0) & (a1 >= b0 - purge)
    embargo_zone = ~overlap & (a0 > b1) & (a0 <= b1 + embargo)
    return {
        "shared": int(np.intersect1d(train, test).size),
        "invalid": int(np.count_nonzero(t1[train] < 0) + np.count_nonzero(t1[test] < 0)),
        "overlap": int(overlap.sum()),
        "purge": int(purge_zone.sum()),
        "embargo": int(embargo_zone.sum()),
    }


def assert_clean(train, test, t0, t1, purge: int, embargo: int) -> None:
    found = leaks(train, test, t0, t1, purge, embargo)
    assert not any(found.values()), f"leaky split: {found}"
    assert len(np.unique(train)) == len(train) and len(np.unique(test)) == len(test)
