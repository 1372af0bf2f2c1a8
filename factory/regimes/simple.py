"""Simple, transparent regime labels: volatility terciles (train-fitted thresholds) and trend vs mean reversion.

Both are causal: the label at row t uses bars <= t. Rows without a full window are labelled ``-1``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.errors import ConfigError, FactoryError

VOLATILITY_REGIME_NAMES = {-1: "undefined", 0: "low", 1: "normal", 2: "high"}
TREND_REGIME_NAMES = {-1: "undefined", 0: "mean_reverting", 1: "trending"}


def hmm_state_names(n_states: int) -> dict[int, str]:
    """Names of the ordered HMM states: 0 is the calmest, ``n_states - 1`` the most volatile."""
    names = {-1: "undefined"}
    for k in range(n_states):
        tag = "calmest" if k == 0 else ("most_volatile" if k == n_states - 1 else f"vol_rank_{k}")
        names[k] = f"state{k}_{tag}"
    return names


def _log_returns(bars: pd.DataFrame) -> np.ndarray:
    close = bars["close"].to_numpy(np.float64)
    r = np.full(close.shape[0], np.nan)
    r[1:] = np.log(close[1:] / close[:-1])
    return r


def realized_vol(bars: pd.DataFrame, window: int) -> np.ndarray:
    """``rv_t = sqrt(mean(r_{t-w+1}^2 .. r_t^2))`` of 1-bar log returns ``r``; NaN for the first ``w`` rows."""
    if window < 1:
        raise ConfigError(f"window must be >= 1, got {window}")
    r2 = pd.Series(_log_returns(bars) ** 2)
    return np.sqrt(r2.rolling(window, min_periods=window).mean().to_numpy())


class VolatilityRegime:
    """Low / normal / high volatility from realised-vol terciles fitted on training rows only.

    ``fit(bars, train_end)`` sets ``thresholds_ = (q_1/3, q_2/3)`` of ``rv_t`` over rows ``< train_end``;
    ``transform`` labels ``0`` if ``rv_t <= q_1/3``, ``1`` if ``q_1/3 < rv_t <= q_2/3``, ``2`` above, ``-1``
    where ``rv_t`` is undefined. Names: :data:`VOLATILITY_REGIME_NAMES`.
    """

    def __init__(self, window: int = 60):
        self.window = window

    def fit(self, bars: pd.DataFrame, train_end: int | None = None) -> "VolatilityRegime":
        rv = realized_vol(bars, self.window)
        end = rv.shape[0] if train_end is None else int(train_end)
        train = rv[:end]
        train = train[np.isfinite(train)]
        if train.size < 3:
            raise FactoryError(f"volatility regime needs realised vol on >= 3 training rows, got {train.size}")
        lo, hi = np.quantile(train, [1.0 / 3.0, 2.0 / 3.0])
        self.thresholds_ = (float(lo), float(hi))
        return self

    def transform(self, bars: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "thresholds_"):
            raise FactoryError("VolatilityRegime is not fitted")
        rv = realized_vol(bars, self.window)
        ok = np.isfinite(rv)
        out = np.full(rv.shape[0], -1, dtype=np.int8)
        # side="left" makes a value equal to a threshold fall in the lower class (<= q).
        out[ok] = np.searchsorted(np.asarray(self.thresholds_), rv[ok], side="left").astype(np.int8)
        return out


def volatility_regime(bars: pd.DataFrame, window: int = 60, train_end: int | None = None) -> np.ndarray:
    """Labels 0/1/2 (low/normal/high) with thresholds from rows ``< train_end``; see :class:`VolatilityRegime`."""
    return VolatilityRegime(window).fit(bars, train_end).transform(bars)


def efficiency_ratio(bars: pd.DataFrame, window: int) -> np.ndarray:
    """Kaufman efficiency ratio ``ER_t = |C_t - C_{t-w}| / sum_{j=t-w+1..t} |C_j - C_{j-1}|`` (NaN before row w).

    A flat window (zero path length) gives 0.
    """
    if window < 1:
        raise ConfigError(f"window must be >= 1, got {window}")
    close = bars["close"].to_numpy(np.float64)
    n = close.shape[0]
    out = np.full(n, np.nan)
    if n <= window:
        return out
    step = np.abs(np.diff(close))
    path = np.concatenate([[0.0], np.cumsum(step)])  # path[t] = sum of |steps| up to row t
    length = path[window:] - path[:-window]
    net = np.abs(close[window:] - close[:-window])
    with np.errstate(divide="ignore", invalid="ignore"):
        out[window:] = np.where(length > 0, net / length, 0.0)
    return out


def trend_regime(bars: pd.DataFrame, window: int = 120) -> np.ndarray:
    """1 = trending, 0 = mean-reverting, -1 = undefined (first ``window`` rows).

    Trending iff ``ER_t > 1 / sqrt(w)``: for a driftless Gaussian random walk ``E|C_t - C_{t-w}| =
    sigma sqrt(2w/π)`` and ``E(path) = w sigma sqrt(2/π)``, so the ER of pure noise is about ``1/sqrt(w)``.
    A window whose net move beats that baseline is directional; one below it went back and forth.
    Names: :data:`TREND_REGIME_NAMES`.
    """
    er = efficiency_ratio(bars, window)
    ok = np.isfinite(er)
    out = np.full(er.shape[0], -1, dtype=np.int8)
    out[ok] = (er[ok] > 1.0 / np.sqrt(window)).astype(np.int8)
    return out
