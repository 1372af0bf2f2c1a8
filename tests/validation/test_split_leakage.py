"""Leakage proofs for every splitting scheme on random overlapping label spans, and proof the checker bites."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import KFold

from factory.errors import FactoryError, LeakageError
from factory.validation import (
    CombinatorialPurgedCV,
    PurgedKFold,
    SplitConfig,
    WalkForward,
    chronological_split,
)

from span_synth import assert_clean, leaks, make_spans

SETTINGS = settings(max_examples=40, deadline=None)
spans_params = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**31 - 1),
        "n": st.integers(60, 300),
        "max_len": st.integers(0, 60),
        "max_step": st.integers(0, 4),
        "shuffle": st.booleans(),
    }
)
gaps = st.tuples(st.integers(0, 30), st.integers(0, 60))


def _splitters(purge: int, embargo: int):
    yield PurgedKFold(5, purge, embargo)
    yield CombinatorialPurgedCV(6, 2, purge, embargo)
    yield CombinatorialPurgedCV(5, 3, purge, embargo)


@SETTINGS
@given(params=spans_params, gap=gaps)
def test_purged_kfold_and_cpcv_never_leak(params, gap):
    t0, t1 = make_spans(**params)
    purge, embargo = gap
    valid = np.flatnonzero(t1 >= 0)
    for cv in _splitters(purge, embargo):
        n_splits = 0
        for train, test in cv.split(t0=t0, t1=t1):
            assert_clean(train, test, t0, t1, purge, embargo)
            assert np.isin(train, valid).all() and np.isin(test, valid).all()
            n_splits += 1
        assert n_splits == cv.get_n_splits()


@SETTINGS
@given(params=spans_params, gap=gaps, rolling=st.booleans())
def test_walk_forward_never_leaks_and_trains_on_the_past_only(params, gap, rolling):
    t0, t1 = make_spans(**params)
    purge, embargo = gap
    cv = WalkForward(3, test_size=max(1, params["n"] // 8), train_size=30 if rolling else None,
                     purge_bars=purge, embargo_bars=embargo)
    try:
        folds = list(cv.split(t0=t0, t1=t1))
    except FactoryError as exc:  # a gap wider than the data is reported, never silently split
        assert "no training sample" in str(exc)
        return
    for train, test in folds:
        assert_clean(train, test, t0, t1, purge, embargo)
        # the whole purge + embargo gap lies between the last training label and the first test entry
        assert t0[test].min() - t1[train].max() > purge + embargo


@SETTINGS
@given(params=spans_params, gap=st.tuples(st.integers(0, 10), st.integers(0, 20)))
def test_chronological_split_never_leaks(params, gap):
    # entries spread over at least a few hundred bars so that no segment can come out empty
    t0, t1 = make_spans(**{**params, "n": params["n"] + 400, "max_step": max(params["max_step"], 1)})
    purge, embargo = gap
    cfg = SplitConfig(train_frac=0.6, val_frac=0.2, purge_bars=purge, embargo_bars=embargo)
    res = chronological_split(t0, t1, cfg)
    segments = [res.train, res.val, res.test]
    for i in range(3):
        for j in range(i + 1, 3):
            # earlier segment plays "train", later one "test": no overlap, purge or embargo violations
            assert_clean(segments[i], segments[j], t0, t1, purge, embargo)
            assert t0[segments[j]].min() - t1[segments[i]].max() > purge + embargo
    assert (t1[np.concatenate(segments)] >= 0).all()


def test_naive_kfold_violates_the_overlap_invariant():
    t0, t1 = make_spans(3, 400, max_len=40)
    valid = np.flatnonzero(t1 >= 0)
    total = {"overlap": 0, "embargo": 0}
    for tr, te in KFold(5).split(valid):
        found = leaks(valid[tr], valid[te], t0, t1, purge=10, embargo=50)
        total["overlap"] += found["overlap"]
        total["embargo"] += found["embargo"]
    assert total["overlap"] > 0 and total["embargo"] > 0


def test_checker_catches_a_missing_purge_and_a_missing_embargo():
    t0, t1 = make_spans(4, 400, max_len=20)
    # A purged k-fold built without purge/embargo gaps is overlap-free but still leaks by the stricter rules.
    found = {"purge": 0, "embargo": 0, "overlap": 0}
    for train, test in PurgedKFold(5, purge_bars=0, embargo_bars=0).split(t0=t0, t1=t1):
        for k, v in leaks(train, test, t0, t1, purge=15, embargo=60).items():
            if k in found:
                found[k] += v
    assert found["overlap"] == 0 and found["purge"] > 0 and found["embargo"] > 0


def test_checker_catches_a_single_smuggled_sample():
    t0, t1 = make_spans(5, 300, max_len=10)
    cv = PurgedKFold(5, purge_bars=5, embargo_bars=30)
    train, test = list(cv.split(t0=t0, t1=t1))[2]
    assert_clean(train, test, t0, t1, 5, 30)
    hi = t1[test].max()
    embargoed = np.flatnonzero((t0 > hi) & (t0 <= hi + 30) & (t1 >= 0))
    assert embargoed.size and not np.isin(embargoed, train).any()
    with pytest.raises(AssertionError, match="embargo"):
        assert_clean(np.append(train, embargoed[0]), test, t0, t1, 5, 30)


@pytest.mark.parametrize(
    "build",
    [
        lambda **kw: PurgedKFold(5, 60, 100, **kw),
        lambda **kw: WalkForward(3, purge_bars=60, embargo_bars=100, **kw),
        lambda **kw: CombinatorialPurgedCV(6, 2, 60, 100, **kw),
        lambda **kw: chronological_split(
            np.arange(2000), np.arange(2000) + 5, SplitConfig(purge_bars=60, embargo_bars=100), **kw
        ),
    ],
    ids=["purged_kfold", "walk_forward", "cpcv", "chronological"],
)
def test_short_embargo_is_an_error_in_every_scheme(build):
    with pytest.raises(LeakageError, match=r"embargo_bars=100 is shorter than the feature warm-up \(240 bars\)"):
        build(feature_warmup=240)
    with pytest.raises(LeakageError, match=r"feature warm-up \(90 bars\) plus the model look-back \(30 bars\)"):
        build(feature_warmup=90, model_lookback=30)
    with pytest.raises(LeakageError, match=r"embargo_bars=100 .*minimum embargo \(240 bars"):
        build(min_embargo=240)
    # exactly enough is fine
    build(feature_warmup=70, model_lookback=30, min_embargo=100)
