"""Chronological train / val / test split: ordering, gaps, fractions, invalid labels, bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from factory.errors import ConfigError, FactoryError, LeakageError
from factory.validation import SplitConfig, chronological_split

from span_synth import make_spans

CFG = SplitConfig(train_frac=0.7, val_frac=0.15, purge_bars=10, embargo_bars=50)


def dense_spans(n: int = 5000, horizon: int = 20, seed: int = 0):
    """One sample per bar, labels of 1..horizon bars, a few invalid at random and at the tail."""
    rng = np.random.default_rng(seed)
    t0 = np.arange(n)
    t1 = np.minimum(t0 + rng.integers(1, horizon + 1, n), n - 1)
    t1[rng.random(n) < 0.03] = -1
    t1[-horizon:] = -1  # the last bars cannot finish a label
    return t0, t1


def test_segments_are_ordered_with_embargo_gaps():
    t0, t1 = dense_spans()
    res = chronological_split(t0, t1, CFG)
    b = res.boundaries
    assert b.val_start - b.train_end == CFG.embargo_bars
    assert b.test_start - b.val_end == CFG.embargo_bars
    assert t0[res.train].max() < b.train_end <= b.val_start <= t0[res.val].min()
    assert t0[res.val].max() < b.val_end <= b.test_start <= t0[res.test].min()
    # every label of a segment ends before the next segment's entries, by at least purge + embargo bars
    assert t1[res.train].max() < b.train_end - CFG.purge_bars
    assert t1[res.val].max() < b.val_end - CFG.purge_bars
    assert t0[res.val].min() - t1[res.train].max() > CFG.purge_bars + CFG.embargo_bars
    assert t0[res.test].min() - t1[res.val].max() > CFG.purge_bars + CFG.embargo_bars
    # a validation sample's features (warm-up <= embargo) never reach a bar of the training segment
    assert t0[res.val].min() - CFG.embargo_bars >= b.train_end


def test_fractions_are_roughly_respected():
    t0, t1 = dense_spans(20000)
    res = chronological_split(t0, t1, CFG)
    n = len(t0)
    slack = (CFG.embargo_bars + CFG.purge_bars + 20) / n + 0.03  # gaps, purge and the 3% invalid labels
    assert abs(res.train.size / n - 0.70) < slack
    assert abs(res.val.size / n - 0.15) < slack
    assert abs(res.test.size / n - 0.15) < slack
    b = res.boundaries
    assert b.train_end == round(0.7 * (b.end - b.start)) + b.start


def test_invalid_labels_are_excluded_everywhere():
    t0, t1 = dense_spans()
    res = chronological_split(t0, t1, CFG)
    used = np.concatenate([res.train, res.val, res.test])
    assert (t1[used] >= 0).all()
    assert res.n_invalid == int((t1 < 0).sum())
    # NaN marks a missing label as well
    t1f = t1.astype(float)
    t1f[t1 < 0] = np.nan
    res2 = chronological_split(t0, t1f, CFG)
    np.testing.assert_array_equal(res2.train, res.train)
    np.testing.assert_array_equal(res2.test, res.test)


def test_every_sample_is_accounted_for():
    t0, t1 = make_spans(7, 3000, max_len=30)
    res = chronological_split(t0, t1, CFG)
    s = res.summary()
    accounted = (
        s["n_train"] + s["n_val"] + s["n_test"] + s["n_invalid"]
        + s["n_purged_train"] + s["n_purged_val"] + s["n_embargoed_val"] + s["n_embargoed_test"]
    )
    assert accounted == len(t0)
    assert s["n_purged_train"] > 0 and s["n_embargoed_val"] > 0
    assert len(np.unique(np.concatenate([res.train, res.val, res.test]))) == s["n_train"] + s["n_val"] + s["n_test"]
    assert all(isinstance(v, int) for v in s.values())


def test_unsorted_samples_give_the_same_split():
    t0, t1 = make_spans(8, 2000, max_len=30)
    perm = np.random.default_rng(1).permutation(len(t0))
    a = chronological_split(t0, t1, CFG)
    b = chronological_split(t0[perm], t1[perm], CFG)
    np.testing.assert_array_equal(np.sort(perm[b.train]), a.train)
    np.testing.assert_array_equal(np.sort(perm[b.test]), a.test)


def test_n_bars_pins_the_range_to_the_whole_frame():
    t0 = np.arange(300, 995)
    t1 = t0 + 5
    res = chronological_split(t0, t1, CFG, n_bars=1000)
    assert res.boundaries.start == 0 and res.boundaries.end == 1000
    assert res.boundaries.train_end == 700
    assert chronological_split(t0, t1, CFG).boundaries.train_end == 300 + round(0.7 * 695)
    with pytest.raises(FactoryError, match="beyond n_bars"):
        chronological_split(t0, t1, CFG, n_bars=998)


def test_too_little_data_or_bad_spans_are_errors():
    with pytest.raises(FactoryError, match="leaves no"):
        chronological_split(np.arange(100), np.arange(100) + 1, CFG)
    with pytest.raises(FactoryError, match="no sample has a valid label"):
        chronological_split(np.arange(10), np.full(10, -1), CFG)
    with pytest.raises(FactoryError, match="ends before it starts"):
        chronological_split(np.arange(10), np.arange(10) - 1 + (np.arange(10) == 0), CFG)
    with pytest.raises(FactoryError, match="same length"):
        chronological_split(np.arange(10), np.arange(9), CFG)
    with pytest.raises(FactoryError, match="integer"):
        chronological_split(np.arange(10) + 0.5, np.arange(10) + 1, CFG)


def test_embargo_check_uses_the_config():
    t0, t1 = dense_spans()
    with pytest.raises(LeakageError, match=r"embargo_bars=50 is shorter than the feature warm-up \(240 bars\)"):
        chronological_split(t0, t1, CFG, feature_warmup=240)
    with pytest.raises(LeakageError, match=r"embargo_bars=50 .*minimum embargo \(60 bars"):
        chronological_split(t0, t1, CFG, min_embargo=60)
    with pytest.raises(ConfigError):
        chronological_split(t0, t1, CFG, min_embargo=-1)
    assert chronological_split(t0, t1, CFG, min_embargo=50, feature_warmup=50).train.size > 0


def test_default_config_is_used():
    t0 = np.arange(50_000)
    res = chronological_split(t0, t0 + 30)
    assert res.embargo_bars == 2000 and res.purge_bars == 60
    assert res.boundaries.val_start - res.boundaries.train_end == 2000
