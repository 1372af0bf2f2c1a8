"""PBO by CSCV, the probabilistic Sharpe ratio, the expected maximum Sharpe and the deflated Sharpe ratio."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from scipy.stats import norm

from factory.errors import FactoryError
from factory.validation import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)

GAMMA = 0.5772156649015329


# --- PBO ---------------------------------------------------------------------------------------------------


def test_pure_noise_strategies_overfit_about_half_the_time():
    pbos = [
        probability_of_backtest_overfitting(np.random.default_rng(s).normal(0, 0.01, (600, 20)), 10).pbo
        for s in range(20)
    ]
    assert 0.38 < np.mean(pbos) < 0.62


def test_one_real_edge_among_noise_is_not_overfit():
    rng = np.random.default_rng(0)
    m = rng.normal(0, 0.01, (1000, 30))
    m[:, 7] += 0.004  # Sharpe 0.4 per bar against zero for the rest
    res = probability_of_backtest_overfitting(m, 16)
    assert res.pbo < 0.02
    assert (res.best == 7).mean() > 0.98
    assert res.prob_oos_loss < 0.02


def test_winners_that_must_lose_out_of_sample_give_pbo_near_one():
    # Each column is demeaned over the whole sample, so a high in-sample mean forces a low one out of sample.
    rng = np.random.default_rng(1)
    m = rng.normal(0, 0.01, (800, 25))
    m -= m.mean(axis=0)
    assert probability_of_backtest_overfitting(m, 8).pbo > 0.9


def test_result_shapes_and_ranges():
    res = probability_of_backtest_overfitting(np.random.default_rng(2).normal(size=(320, 5)), 16)
    assert res.n_combinations == comb(16, 8) == res.logits.size == res.best.size
    assert ((res.relative_rank > 0) & (res.relative_rank < 1)).all()
    np.testing.assert_allclose(res.logits, np.log(res.relative_rank / (1 - res.relative_rank)))
    assert res.pbo == pytest.approx(np.mean(res.logits <= 0))


def test_pbo_by_hand_with_two_partitions():
    # Rows 0-3 and 4-7 are the two blocks; with S = 2 there are two combinations (IS = block 0 or block 1).
    m = np.array(
        [
            [1.0, 0.5, 0.2],
            [2.0, 0.7, 0.1],
            [1.5, 0.4, 0.3],
            [1.2, 0.6, 0.2],
            [-1.0, 0.3, 0.5],
            [0.5, 0.2, 0.6],
            [-0.5, 0.4, 0.4],
            [0.2, 0.3, 0.5],
        ]
    )

    def sharpe(x):
        return x.mean(axis=0) / x.std(axis=0, ddof=1)

    res = probability_of_backtest_overfitting(m, 2)
    logits = []
    for is_rows, oos_rows in ((slice(0, 4), slice(4, 8)), (slice(4, 8), slice(0, 4))):
        best = int(np.argmax(sharpe(m[is_rows])))
        oos = sharpe(m[oos_rows])
        rank = 1 + np.sum(oos < oos[best])  # no ties here
        w = rank / 4
        logits.append(np.log(w / (1 - w)))
    np.testing.assert_allclose(res.logits, logits)
    assert res.pbo == np.mean(np.array(logits) <= 0)


def test_pbo_input_errors():
    with pytest.raises(FactoryError, match="even"):
        probability_of_backtest_overfitting(np.zeros((100, 3)), 5)
    with pytest.raises(FactoryError, match="N >= 2"):
        probability_of_backtest_overfitting(np.zeros((100, 1)), 4)
    with pytest.raises(FactoryError, match="rows"):
        probability_of_backtest_overfitting(np.zeros((10, 3)), 16)
    bad = np.zeros((100, 3))
    bad[5, 1] = np.nan
    with pytest.raises(FactoryError, match="NaN"):
        probability_of_backtest_overfitting(bad, 4)


def test_constant_strategies_do_not_break_the_ranking():
    rng = np.random.default_rng(3)
    m = np.column_stack([np.zeros(200), rng.normal(0.5, 1, 200), rng.normal(0, 1, 200)])
    res = probability_of_backtest_overfitting(m, 4)
    assert np.isfinite(res.logits).all()


# --- PSR / expected max Sharpe / DSR -------------------------------------------------------------------------


def test_psr_is_one_half_at_the_benchmark_and_grows_with_the_track_record():
    assert probabilistic_sharpe_ratio(0.1, 500, benchmark_sharpe=0.1, skew=-1, kurtosis=6) == pytest.approx(0.5)
    short = probabilistic_sharpe_ratio(0.05, 100)
    long = probabilistic_sharpe_ratio(0.05, 2000)
    assert 0.5 < short < long < 1
    # fat left tails widen the standard error, lowering confidence
    assert probabilistic_sharpe_ratio(0.05, 500, skew=-2, kurtosis=9) < probabilistic_sharpe_ratio(0.05, 500)
    with pytest.raises(FactoryError, match="undefined"):
        probabilistic_sharpe_ratio(2.0, 100, skew=3.0)
    with pytest.raises(FactoryError):
        probabilistic_sharpe_ratio(0.1, 1)


def test_expected_max_sharpe_formula_and_monte_carlo():
    v = 0.04
    n = 100
    z = (1 - GAMMA) * norm.ppf(1 - 1 / n) + GAMMA * norm.ppf(1 - 1 / (n * np.e))
    assert expected_max_sharpe(n, v) == pytest.approx(np.sqrt(v) * z)
    assert expected_max_sharpe(1, v, mean_sharpe=0.3) == 0.3
    draws = np.random.default_rng(0).normal(0, np.sqrt(v), (20000, n)).max(axis=1).mean()
    assert expected_max_sharpe(n, v) == pytest.approx(draws, rel=0.03)
    values = [expected_max_sharpe(k, v) for k in (2, 5, 10, 100, 1000)]
    assert np.all(np.diff(values) > 0)


def test_dsr_matches_the_published_example_step_by_step():
    # Bailey & López de Prado (2014): annualised SR 2.5 over 5 years of daily returns, skew -3, kurtosis 10,
    # 100 trials whose annualised Sharpe ratios have variance 0.5. Per-day: SR = 2.5/sqrt(250), V = 0.5/250.
    sr, t, n, v, skew, kurt = 2.5 / np.sqrt(250), 1250, 100, 0.5 / 250, -3.0, 10.0
    sr0 = np.sqrt(v) * ((1 - GAMMA) * norm.ppf(1 - 1 / n) + GAMMA * norm.ppf(1 - 1 / (n * np.e)))
    z = (sr - sr0) * np.sqrt(t - 1) / np.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    dsr = deflated_sharpe_ratio(sr, t, n, v, skew, kurt)
    assert dsr == pytest.approx(norm.cdf(z), rel=1e-12)
    assert sr0 == pytest.approx(0.1132, abs=1e-4)  # the paper's deflation benchmark
    assert dsr == pytest.approx(0.9004, abs=1e-4)  # the paper's DSR


def test_dsr_falls_as_trials_grow():
    vals = [deflated_sharpe_ratio(0.1, 1000, k, 0.002) for k in (1, 2, 10, 100, 1000, 10000)]
    assert np.all(np.diff(vals) < 0)
    assert vals[0] == pytest.approx(probabilistic_sharpe_ratio(0.1, 1000))
