"""Expected return and return quantiles from class-conditional distributions mixed by probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from factory.errors import ConfigError
from factory.models.errors import ModelInputError
from factory.models.returns import ReturnDistribution


@pytest.fixture(scope="module")
def fitted():
    # Hand-made validation set: down returns -3..-1, flat -0.5..0.5, up 1..5 (evenly spaced, 201 each).
    down, flat, up = np.linspace(-3, -1, 201), np.linspace(-0.5, 0.5, 201), np.linspace(1, 5, 201)
    r = np.concatenate([down, flat, up])
    y = np.repeat([-1, 0, 1], 201)
    return ReturnDistribution().fit(r, y), (down, flat, up)


def test_all_mass_on_one_class_gives_that_class(fitted):
    dist, classes = fitted
    for k, values in enumerate(classes):
        p = np.zeros((1, 3))
        p[0, k] = 1.0
        out = dist.predict(p)
        assert list(out.columns) == ["expected_return", "ret_q05", "ret_q50", "ret_q95"]
        np.testing.assert_allclose(out["expected_return"], values.mean())
        np.testing.assert_allclose(out[["ret_q05", "ret_q50", "ret_q95"]].to_numpy()[0],
                                   dist.grid_[k][[5, 50, 95]], atol=1e-9)
        # With evenly spaced samples, the quantiles are the linear ones (up to the mid-rank positions).
        np.testing.assert_allclose(out[["ret_q05", "ret_q50", "ret_q95"]].to_numpy()[0],
                                   np.quantile(values, [0.05, 0.5, 0.95]), atol=0.01 * np.ptp(values))


def test_mixture_mean_and_quantiles(fitted):
    dist, (down, flat, up) = fitted
    p = np.array([[0.5, 0.0, 0.5], [0.2, 0.5, 0.3]])
    out = dist.predict(p)
    np.testing.assert_allclose(out["expected_return"], p @ [down.mean(), flat.mean(), up.mean()])
    # Half down (uniform on [-3, -1]) and half up (uniform on [1, 5]): the median is anywhere in the gap
    # [-1, 1]; the inverse CDF takes the smallest, -1. q05 is the 10% point of down, q95 the 90% point of up.
    np.testing.assert_allclose(out.loc[0, "ret_q50"], -1.0, atol=1e-9)
    np.testing.assert_allclose(out.loc[0, "ret_q05"], -3 + 0.1 * 2, atol=0.02)
    np.testing.assert_allclose(out.loc[0, "ret_q95"], 1 + 0.9 * 4, atol=0.03)
    # Quantiles are ordered and bracket nothing outside the data.
    q = out[["ret_q05", "ret_q50", "ret_q95"]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all() and q.min() >= -3 and q.max() <= 5


def test_mixture_cdf_matches_a_brute_force_sample():
    rng = np.random.default_rng(0)
    r = np.concatenate([rng.normal(-1, 0.3, 4000), rng.normal(0, 0.1, 4000), rng.normal(1, 0.5, 4000)])
    y = np.repeat([-1, 0, 1], 4000)
    dist = ReturnDistribution(quantiles=(0.1, 0.25, 0.75, 0.9)).fit(r, y)
    p = np.array([0.3, 0.3, 0.4])
    mix = np.concatenate([r[:4000][:1200], r[4000:8000][:1200], r[8000:][:1600]])
    got = dist.quantile(p[None, :], [0.1, 0.25, 0.75, 0.9])[0]
    np.testing.assert_allclose(got, np.quantile(mix, [0.1, 0.25, 0.75, 0.9]), atol=0.05)
    assert dist.columns == ["expected_return", "ret_q10", "ret_q25", "ret_q75", "ret_q90"]


def test_json_round_trip_and_missing_class(tmp_path):
    r = np.array([-2.0, -1.0, 1.0, 2.0, 3.0])
    y = np.array([-1, -1, 1, 1, 1])
    dist = ReturnDistribution().fit(r, y)
    assert dist.pooled_ == ["flat"]
    p = np.random.default_rng(1).dirichlet(np.ones(3), size=50)
    dist.save(tmp_path)
    np.testing.assert_array_equal(ReturnDistribution.load(tmp_path).predict(p).to_numpy(), dist.predict(p).to_numpy())


def test_bad_input():
    with pytest.raises(ModelInputError, match="non-finite"):
        ReturnDistribution().fit(np.array([0.1, np.nan]), np.array([1, -1]))
    with pytest.raises(ModelInputError):
        ReturnDistribution().fit(np.array([0.1, 0.2]), np.array([1, 2]))
    with pytest.raises(ConfigError):
        ReturnDistribution(quantiles=(0.0, 0.5))
    dist = ReturnDistribution().fit(np.array([0.1, -0.2, 0.0]), np.array([1, -1, 0]))
    with pytest.raises(ModelInputError, match="shape"):
        dist.predict(np.ones((2, 2)))
