"""Combinatorial purged CV: split count, purge around each test group, backtest path reconstruction."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from factory.errors import ConfigError, FactoryError
from factory.validation import CombinatorialPurgedCV

from span_synth import assert_clean, make_spans


@pytest.mark.parametrize("n, k", [(6, 2), (5, 1), (6, 3), (8, 2), (4, 3)])
def test_counts_of_splits_and_paths(n, k):
    t0, t1 = make_spans(0, 300, max_len=10)
    cv = CombinatorialPurgedCV(n, k, purge_bars=2, embargo_bars=10)
    out = list(cv.split(t0=t0, t1=t1))
    assert len(out) == cv.get_n_splits() == comb(n, k)
    assert cv.n_paths == comb(n - 1, k - 1) == k * comb(n, k) // n
    paths = cv.paths()
    assert paths.shape == (comb(n - 1, k - 1), n)
    groups = cv.test_groups()
    for p in range(paths.shape[0]):
        for g in range(n):
            assert g in groups[paths[p, g]]  # the path takes group g from a split that tested it
    # each (split, tested group) pair is used by exactly one path
    pairs = {(int(paths[p, g]), g) for p in range(paths.shape[0]) for g in range(n)}
    assert len(pairs) == paths.size == sum(len(c) for c in groups)


@pytest.mark.parametrize("n, k", [(6, 2), (5, 3)])
def test_every_path_covers_every_sample_exactly_once(n, k):
    t0, t1 = make_spans(1, 400, max_len=20, shuffle=True)
    cv = CombinatorialPurgedCV(n, k, purge_bars=3, embargo_bars=15, t0=t0, t1=t1)
    splits = list(cv.split())
    valid = np.flatnonzero(t1 >= 0)
    group_of = np.full(len(t0), -1)
    for g, members in enumerate(cv.groups()):
        group_of[members] = g
    for row in cv.paths():
        covered = np.concatenate([splits[s][1][group_of[splits[s][1]] == g] for g, s in enumerate(row)])
        np.testing.assert_array_equal(np.sort(covered), valid)

    # predictions that encode (split, sample): each path gets each sample from the split the path names
    preds = [s * 10_000 + test for s, (_, test) in enumerate(splits)]
    rec = cv.reconstruct_paths(preds)
    assert rec.shape == (cv.n_paths, len(t0))
    assert np.isnan(rec[:, t1 < 0]).all() and not np.isnan(rec[:, valid]).any()
    for p, row in enumerate(cv.paths()):
        expect = row[group_of[valid]] * 10_000 + valid
        np.testing.assert_array_equal(rec[p, valid], expect)


def test_reconstruct_keeps_trailing_axes_and_checks_lengths():
    t0, t1 = make_spans(2, 200, max_len=5)
    cv = CombinatorialPurgedCV(4, 2, 1, 5, t0=t0, t1=t1)
    splits = list(cv.split())
    proba = [np.column_stack([np.full(len(te), s), np.full(len(te), 1.0 - s)]) for s, (_, te) in enumerate(splits)]
    rec = cv.reconstruct_paths(proba)
    assert rec.shape == (3, 200, 2)
    with pytest.raises(FactoryError, match="expected predictions for 6 splits"):
        cv.reconstruct_paths(proba[:-1])
    with pytest.raises(FactoryError, match="test samples but"):
        cv.reconstruct_paths([p[:-1] for p in proba])


def test_purge_and_embargo_apply_around_each_test_group():
    # 60 back-to-back 5-bar labels in 6 groups of 10 samples (50 bars each).
    t0 = np.arange(0, 300, 5)
    t1 = t0 + 4
    cv = CombinatorialPurgedCV(6, 2, purge_bars=1, embargo_bars=1, t0=t0, t1=t1)
    splits = dict(zip(cv.test_groups(), cv.split()))
    train, test = splits[(1, 3)]
    np.testing.assert_array_equal(test, np.r_[10:20, 30:40])
    # groups 0, 2, 4, 5 train, minus the neighbours of each test group: 9 (purge), 20 (embargo), 29, 40
    np.testing.assert_array_equal(train, np.setdiff1d(np.r_[0:10, 20:30, 40:60], [9, 20, 29, 40]))
    assert_clean(train, test, t0, t1, 1, 1)


def test_bad_settings_are_errors():
    with pytest.raises(ConfigError, match="smaller than n_groups"):
        CombinatorialPurgedCV(4, 4)
    with pytest.raises(ConfigError):
        CombinatorialPurgedCV(1, 1)
    with pytest.raises(FactoryError, match="cannot cut"):
        list(CombinatorialPurgedCV(6, 2, 0, 0).split(t0=np.arange(5), t1=np.arange(5)))
