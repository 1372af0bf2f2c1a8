"""A single extreme jump in the training data must not break the HMM fit (scaled forward pass underflow)."""

import numpy as np

from factory.regimes.config import RegimeConfig
from factory.regimes.hmm import RegimeHMM


def test_fit_survives_a_huge_outlier_and_still_filters():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.standard_normal(5000), rng.standard_normal(5000)])
    x[2500] = [400.0, -400.0]  # hundreds of standard deviations
    hmm = RegimeHMM(RegimeConfig(n_states=3, n_iter=20)).fit(x)
    p = hmm.filter_proba(x)
    assert p.shape == (5000, 3)
    p = p[hmm.config.filter_lag - 1:]  # each row filters the lag rows ending at it
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert np.isfinite(p).all()
