"""PurgedKFold: contiguous folds, purge / embargo behaviour, sklearn compatibility, input handling."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from factory.errors import ConfigError, FactoryError
from factory.validation import PurgedKFold, SplitConfig

from span_synth import assert_clean, make_spans


def test_test_folds_are_contiguous_in_time_and_cover_every_valid_sample_once():
    t0, t1 = make_spans(0, 500, max_len=30)
    cv = PurgedKFold(5, purge_bars=5, embargo_bars=40)
    tests = [te for _, te in cv.split(t0=t0, t1=t1)]
    allt = np.concatenate(tests)
    np.testing.assert_array_equal(np.sort(allt), np.flatnonzero(t1 >= 0))
    for a, b in zip(tests, tests[1:]):
        assert t0[a].max() <= t0[b].min()
    sizes = [len(te) for te in tests]
    assert max(sizes) - min(sizes) <= 1


def test_exactly_the_touching_samples_are_removed():
    # Ten non-overlapping 10-bar labels; fold 2 (samples 4, 5) covers bars 40..59.
    t0 = np.arange(0, 100, 10)
    t1 = t0 + 9
    cv = PurgedKFold(5, purge_bars=1, embargo_bars=1)
    train, test = list(cv.split(t0=t0, t1=t1))[2]
    np.testing.assert_array_equal(test, [4, 5])
    # sample 3 ends at 39 >= 40 - 1 (purged); sample 6 starts at 60 <= 59 + 1 (embargoed)
    np.testing.assert_array_equal(train, [0, 1, 2, 7, 8, 9])
    train0, _ = list(PurgedKFold(5, purge_bars=0, embargo_bars=0).split(t0=t0, t1=t1))[2]
    np.testing.assert_array_equal(train0, [0, 1, 2, 3, 6, 7, 8, 9])


def test_train_after_the_test_fold_starts_past_the_embargo():
    t0, t1 = make_spans(1, 600, max_len=25)
    emb = 70
    for train, test in PurgedKFold(4, purge_bars=3, embargo_bars=emb).split(t0=t0, t1=t1):
        hi = t1[test].max()
        after = train[t0[train] > t0[test].max()]
        assert (t0[after] > hi + emb).all()
        before = train[t0[train] < t0[test].min()]
        assert (t1[before] < t0[test].min() - 3).all()


def test_shuffled_sample_order_is_handled():
    t0, t1 = make_spans(2, 400, max_len=30, shuffle=True)
    cv = PurgedKFold(5, purge_bars=5, embargo_bars=30)
    for train, test in cv.split(t0=t0, t1=t1):
        assert_clean(train, test, t0, t1, 5, 30)
        # a test fold is a contiguous stretch of time: no training entry falls inside it
        assert not ((t0[train] >= t0[test].min()) & (t0[train] <= t0[test].max())).any()


def test_works_as_cv_in_sklearn():
    rng = np.random.default_rng(0)
    n = 400
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)
    t0 = np.arange(n)
    t1 = t0 + 5
    cv = PurgedKFold(4, purge_bars=2, embargo_bars=10, t0=t0, t1=t1)
    scores = cross_val_score(LogisticRegression(), X, y, cv=cv)
    assert scores.shape == (4,) and (scores > 0.6).all()
    assert cv.get_n_splits() == 4
    with pytest.raises(FactoryError, match="X has 10 rows"):
        list(cv.split(X[:10]))


def test_spans_must_be_given_and_consistent():
    with pytest.raises(FactoryError, match="needs label spans"):
        list(PurgedKFold(3).split(np.zeros((5, 1))))
    with pytest.raises(FactoryError, match="both t0 and t1"):
        PurgedKFold(3, t0=np.arange(5))
    with pytest.raises(FactoryError, match="cannot cut"):
        list(PurgedKFold(5, 0, 0).split(t0=np.arange(4), t1=np.arange(4)))
    with pytest.raises(ConfigError):
        PurgedKFold(1)
    with pytest.raises(ConfigError):
        PurgedKFold(3, purge_bars=-1)


def test_spans_passed_to_split_override_the_constructor():
    cv = PurgedKFold(3, 0, 0, t0=np.arange(30), t1=np.arange(30))
    assert sum(len(te) for _, te in cv.split(t0=np.arange(12), t1=np.arange(12))) == 12


def test_from_config():
    cv = PurgedKFold.from_config(SplitConfig(n_splits=7, purge_bars=3, embargo_bars=9))
    assert (cv.n_splits, cv.purge_bars, cv.embargo_bars) == (7, 3, 9)
    assert "PurgedKFold(" in repr(cv)
