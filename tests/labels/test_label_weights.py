"""Average uniqueness and return-attribution weights on hand examples and against a plain loop."""

from __future__ import annotations

import numpy as np
import pytest

from factory.errors import ConfigError
from factory.labels import concurrency, label_uniqueness_weights, return_attribution_weights


def test_non_overlapping_spans_weigh_one():
    w = label_uniqueness_weights([0, 3, 6], [2, 5, 9], 10)
    np.testing.assert_array_equal(w, [1.0, 1.0, 1.0])


def test_identical_spans_weigh_half():
    w = label_uniqueness_weights([2, 2], [5, 5], 8)
    np.testing.assert_array_equal(w, [0.5, 0.5])


def test_partial_overlap_hand_example():
    # spans [0,2] and [2,4]: c = [1, 1, 2, 1, 1]; u = (1 + 1 + 1/2) / 3 = 5/6 for both
    np.testing.assert_array_equal(concurrency([0, 2], [2, 4], 5), [1, 1, 2, 1, 1])
    np.testing.assert_allclose(label_uniqueness_weights([0, 2], [2, 4], 5), [5 / 6, 5 / 6])
    # a span inside another: [0,3] and [1,2]: c = [1,2,2,1]; u0 = (1 + .5 + .5 + 1)/4 = .75, u1 = .5
    np.testing.assert_allclose(label_uniqueness_weights([0, 1], [3, 2], 4), [0.75, 0.5])


def test_invalid_labels_are_ignored_and_nan():
    w = label_uniqueness_weights([0, 1, 2], [2, -1, 4], 5)
    assert np.isnan(w[1])
    np.testing.assert_allclose(w[[0, 2]], [5 / 6, 5 / 6])  # the invalid label does not add concurrency


def test_matches_plain_loop():
    rng = np.random.default_rng(0)
    n = 400
    t0 = np.sort(rng.integers(0, n - 30, 150))
    t1 = t0 + rng.integers(0, 30, 150)
    c = np.zeros(n)
    for a, b in zip(t0, t1):
        c[a:b + 1] += 1
    expect = np.array([np.mean(1.0 / c[a:b + 1]) for a, b in zip(t0, t1)])
    np.testing.assert_allclose(label_uniqueness_weights(t0, t1, n), expect, rtol=1e-12)
    np.testing.assert_array_equal(concurrency(t0, t1, n), c)

    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    r = np.r_[0.0, np.diff(np.log(close))]
    raw = np.array([abs(np.sum(r[a + 1:b + 1] / c[a + 1:b + 1])) for a, b in zip(t0, t1)])
    np.testing.assert_allclose(return_attribution_weights(t0, t1, close, normalize=False), raw, atol=1e-15)
    w = return_attribution_weights(t0, t1, close)
    np.testing.assert_allclose(w, raw * len(raw) / raw.sum())
    assert w.sum() == pytest.approx(len(w))


def test_return_attribution_hand_example():
    close = np.array([100.0, 110.0, 121.0, 121.0])
    # spans [0,2] and [1,2]: c = [1, 2, 2, 0]; label 0 gets |r1/2 + r2/2| = log(1.1); label 1 gets |r2/2|
    w = return_attribution_weights([0, 1], [2, 2], close, normalize=False)
    np.testing.assert_allclose(w, [np.log(1.1), np.log(1.1) / 2])


def test_bad_spans():
    with pytest.raises(ConfigError):
        label_uniqueness_weights([0, 1], [2], 5)
    with pytest.raises(ConfigError):
        label_uniqueness_weights([0], [7], 5)
