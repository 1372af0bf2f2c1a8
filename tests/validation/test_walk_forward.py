"""WalkForward: test blocks after their training data, expanding and rolling windows, the gap."""

from __future__ import annotations

import numpy as np
import pytest

from factory.errors import ConfigError, FactoryError
from factory.validation import SplitConfig, WalkForward

from span_synth import assert_clean, make_spans

PURGE, EMB = 5, 40


def folds(cv, t0, t1):
    return list(cv.split(t0=t0, t1=t1))


def test_expanding_window_grows_and_test_blocks_move_forward():
    t0, t1 = make_spans(0, 1000, max_len=30)
    out = folds(WalkForward(4, purge_bars=PURGE, embargo_bars=EMB), t0, t1)
    assert len(out) == 4
    n_valid = int((t1 >= 0).sum())
    for k, (train, test) in enumerate(out):
        assert test.size == n_valid // 5
        assert_clean(train, test, t0, t1, PURGE, EMB)
        assert t1[train].max() < t0[test].min() - PURGE - EMB
        if k:
            prev_train, prev_test = out[k - 1]
            assert set(prev_train) <= set(train) and train.size > prev_train.size
            assert t0[prev_test].max() <= t0[test].min()
            # the expanding window eventually trains on the earlier test block (labels permitting)
    last_train = out[-1][0]
    assert np.isin(out[0][1], last_train).mean() > 0.9


def test_training_set_is_everything_old_enough():
    t0, t1 = make_spans(1, 800, max_len=30)
    for train, test in folds(WalkForward(3, purge_bars=PURGE, embargo_bars=EMB), t0, t1):
        old_enough = np.flatnonzero((t1 >= 0) & (t1 < t0[test].min() - PURGE - EMB))
        np.testing.assert_array_equal(train, old_enough)


def test_rolling_window_keeps_the_most_recent_samples():
    t0, t1 = make_spans(2, 1000, max_len=30)
    expanding = folds(WalkForward(4, purge_bars=PURGE, embargo_bars=EMB), t0, t1)
    rolling = folds(WalkForward(4, train_size=150, purge_bars=PURGE, embargo_bars=EMB), t0, t1)
    for (tr_e, te_e), (tr_r, te_r) in zip(expanding, rolling):
        np.testing.assert_array_equal(te_e, te_r)
        assert tr_r.size == 150
        assert set(tr_r) <= set(tr_e)
        # nothing in the expanding set that was left out is newer than the rolling window's oldest sample
        left_out = np.setdiff1d(tr_e, tr_r)
        assert t0[left_out].max() <= t0[tr_r].min()
        assert_clean(tr_r, te_r, t0, t1, PURGE, EMB)


def test_explicit_test_size():
    t0, t1 = np.arange(500), np.arange(500) + 3
    out = folds(WalkForward(2, test_size=50, purge_bars=0, embargo_bars=10), t0, t1)
    np.testing.assert_array_equal(out[0][1], np.arange(400, 450))
    np.testing.assert_array_equal(out[1][1], np.arange(450, 500))
    # train labels end before 400 - 0 - 10 = 390: t1 = t0 + 3 <= 389 -> t0 <= 386
    np.testing.assert_array_equal(out[0][0], np.arange(0, 387))


def test_too_many_folds_or_too_wide_a_gap_are_errors():
    t0, t1 = np.arange(100), np.arange(100) + 2
    with pytest.raises(ConfigError, match="leaves no training data"):
        folds(WalkForward(5, test_size=20, purge_bars=0, embargo_bars=0), t0, t1)
    with pytest.raises(FactoryError, match="no training sample ends before"):
        folds(WalkForward(3, purge_bars=10, embargo_bars=200), t0, t1)
    with pytest.raises(ConfigError):
        WalkForward(3, train_size=0)


def test_from_config_and_n_splits():
    cv = WalkForward.from_config(SplitConfig(n_splits=3, purge_bars=2, embargo_bars=4), train_size=10)
    assert (cv.n_splits, cv.purge_bars, cv.embargo_bars, cv.train_size) == (3, 2, 4, 10)
    assert cv.get_n_splits() == 3
