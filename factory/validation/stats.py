"""Overfitting statistics for strategy selection: PBO via CSCV, the probabilistic and deflated Sharpe ratios.

References: Bailey, Borwein, López de Prado & Zhu (2015), "The Probability of Backtest Overfitting";
Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier" (PSR);
Bailey & López de Prado (2014), "The Deflated Sharpe Ratio".

All Sharpe ratios here are per observation (not annualised): ``mean / std`` of the return series at its own
frequency. Kurtosis is the plain (not excess) kurtosis, 3 for a normal distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from scipy.stats import norm, rankdata

from factory.errors import FactoryError

EULER_MASCHERONI = 0.5772156649015329


@dataclass(frozen=True)
class PBOResult:
    """Outcome of CSCV; arrays have one entry per in-sample / out-of-sample combination.

    ``pbo``: share of combinations whose in-sample winner ranks at or below the out-of-sample median
    (logit <= 0). ``logits``: ``ln(w / (1 - w))`` with ``w`` the winner's relative out-of-sample rank in
    ``(0, 1)``. ``best``: the in-sample winner's column. ``is_sharpe`` / ``oos_sharpe``: the winner's Sharpe
    in and out of sample (their regression shows performance degradation). ``prob_oos_loss``: share of
    combinations where the winner's out-of-sample Sharpe is negative.
    """

    pbo: float
    logits: np.ndarray
    relative_rank: np.ndarray
    best: np.ndarray
    is_sharpe: np.ndarray
    oos_sharpe: np.ndarray
    prob_oos_loss: float
    n_partitions: int
    n_combinations: int


def _sharpe(total: np.ndarray, total_sq: np.ndarray, count: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Sharpe per row and column from sums of shifted returns (shifting keeps the variance sums well conditioned)."""
    mean_c = total / count
    var = np.clip((total_sq - count * mean_c**2) / (count - 1), 0.0, None)
    sd = np.sqrt(var)
    mean = mean_c + shift
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = mean / sd
    # A constant series has no risk: zero mean scores 0, otherwise +/- infinity keeps the ordering sensible.
    flat = np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0))
    return np.where(sd > 0, sr, flat)


def probability_of_backtest_overfitting(perf_matrix: Any, n_partitions: int = 16) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV).

    ``perf_matrix`` is ``T x N``: per-period returns of ``N`` strategy variants (rows in time order). Its rows
    are cut into ``n_partitions`` (even) contiguous blocks of nearly equal size. For each of the
    ``C(S, S/2)`` ways to pick half the blocks as in-sample (the rest out-of-sample): compute every
    strategy's Sharpe ratio on both halves, take the in-sample best ``n*``, find its out-of-sample rank
    ``r`` in ``1..N`` (1 = worst, ties averaged), ``w = r / (N + 1)`` and the logit ``ln(w / (1 - w))``.
    PBO is the share of logits <= 0: how often the in-sample choice does no better than the median
    strategy out of sample. Pure-noise variants give about 0.5; one variant with a real edge gives about 0.
    """
    m = np.asarray(perf_matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        raise FactoryError(f"perf_matrix must be T x N with N >= 2 strategies, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise FactoryError("perf_matrix has NaN or infinite returns")
    s = int(n_partitions)
    if s < 2 or s % 2:
        raise FactoryError(f"n_partitions must be an even number >= 2, got {n_partitions}")
    if m.shape[0] < 2 * s:
        raise FactoryError(f"perf_matrix has {m.shape[0]} rows; need at least 2 per partition ({2 * s})")

    shift = m.mean(axis=0)
    c = m - shift
    blocks = np.array_split(np.arange(m.shape[0]), s)
    b_sum = np.stack([c[b].sum(axis=0) for b in blocks])  # S x N
    b_sq = np.stack([(c[b] ** 2).sum(axis=0) for b in blocks])
    b_n = np.array([b.size for b in blocks], dtype=np.float64)

    picks = np.array(list(combinations(range(s), s // 2)))
    chosen = np.zeros((picks.shape[0], s))
    np.put_along_axis(chosen, picks, 1.0, axis=1)
    rest = 1.0 - chosen
    is_sr = _sharpe(chosen @ b_sum, chosen @ b_sq, (chosen @ b_n)[:, None], shift)
    oos_sr = _sharpe(rest @ b_sum, rest @ b_sq, (rest @ b_n)[:, None], shift)

    rows = np.arange(chosen.shape[0])
    best = np.argmax(np.where(np.isnan(is_sr), -np.inf, is_sr), axis=1)
    oos_clean = np.where(np.isnan(oos_sr), -np.inf, oos_sr)
    rank = rankdata(oos_clean, axis=1)[rows, best]
    w = rank / (m.shape[1] + 1)
    logits = np.log(w / (1.0 - w))
    oos_best = oos_sr[rows, best]
    return PBOResult(
        pbo=float(np.mean(logits <= 0)),
        logits=logits,
        relative_rank=w,
        best=best,
        is_sharpe=is_sr[rows, best],
        oos_sharpe=oos_best,
        prob_oos_loss=float(np.mean(oos_best < 0)),
        n_partitions=s,
        n_combinations=int(chosen.shape[0]),
    )


def probabilistic_sharpe_ratio(
    sharpe: float, n_obs: int, benchmark_sharpe: float = 0.0, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """Probability that the true Sharpe ratio exceeds ``benchmark_sharpe`` given ``n_obs`` returns.

    ``PSR = Phi((SR - SR*) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurtosis - 1) / 4 * SR^2))``, which
    corrects the Sharpe ratio's standard error for track-record length and non-normal returns.
    """
    if n_obs < 2:
        raise FactoryError(f"n_obs must be >= 2, got {n_obs}")
    denom = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if denom <= 0:
        raise FactoryError(
            f"PSR undefined: 1 - skew*SR + (kurtosis-1)/4*SR^2 = {denom:.4g} <= 0 "
            f"(sharpe={sharpe}, skew={skew}, kurtosis={kurtosis}); is the Sharpe ratio annualised?"
        )
    return float(norm.cdf((sharpe - benchmark_sharpe) * np.sqrt(n_obs - 1.0) / np.sqrt(denom)))


def expected_max_sharpe(n_trials: int, sharpe_variance: float, mean_sharpe: float = 0.0) -> float:
    """Expected largest Sharpe ratio among ``n_trials`` unskilled trials (false strategy theorem).

    ``E[max SR] = mean + sqrt(V) * ((1 - gamma) * Phi^-1(1 - 1/N) + gamma * Phi^-1(1 - 1/(N e)))`` with
    ``gamma`` the Euler-Mascheroni constant and ``V`` the variance of the trials' Sharpe ratios.
    One trial has nothing to select from, so its expectation is ``mean_sharpe``.
    """
    if n_trials < 1:
        raise FactoryError(f"n_trials must be >= 1, got {n_trials}")
    if sharpe_variance < 0:
        raise FactoryError(f"sharpe_variance must be >= 0, got {sharpe_variance}")
    if n_trials == 1:
        return float(mean_sharpe)
    z = (1 - EULER_MASCHERONI) * norm.ppf(1 - 1 / n_trials) + EULER_MASCHERONI * norm.ppf(
        1 - 1 / (n_trials * np.e)
    )
    return float(mean_sharpe + np.sqrt(sharpe_variance) * z)


def deflated_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    n_trials: int,
    sharpe_variance_across_trials: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """Deflated Sharpe ratio: the PSR of ``sharpe`` against the Sharpe expected from the best of ``n_trials``.

    ``DSR = PSR(SR, benchmark = expected_max_sharpe(n_trials, V))``: the probability that the selected
    strategy's true Sharpe is positive after accounting for selection among ``n_trials`` tries, track-record
    length ``n_obs`` and the returns' ``skew`` / ``kurtosis``. It falls as ``n_trials`` grows.
    """
    sr0 = expected_max_sharpe(n_trials, sharpe_variance_across_trials)
    return probabilistic_sharpe_ratio(sharpe, n_obs, sr0, skew, kurtosis)
