"""Small regime-switching bar generator with known hidden states, for the regime tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def regime_bars(n: int, seed: int = 0, p_stay: float = 0.995, vol=(1.0, 3.0), base_sigma: float = 2e-4,
                drift=(0.0, 0.0)):
    """Bars whose 1-bar log returns are N(drift_s * sigma_s, sigma_s^2) under a 2-state Markov chain.

    State 0 is calm (``sigma = base_sigma * vol[0]``), state 1 volatile. Highs/lows extend the open/close
    envelope by a half-normal amount of the same state's scale. Returns ``(bars, states)``.
    """
    rng = np.random.default_rng(seed)
    flips = rng.random(n) > p_stay
    states = np.cumsum(flips) % 2
    sig = base_sigma * np.asarray(vol)[states]
    mu = np.asarray(drift)[states] * sig
    r = mu + sig * rng.standard_normal(n)
    close = 5000.0 * np.exp(np.cumsum(r))
    open_ = np.empty(n)
    open_[0] = 5000.0
    open_[1:] = close[:-1]
    hi = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal(n)) * sig * 0.5)
    lo = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal(n)) * sig * 0.5)
    bars = pd.DataFrame({
        "timestamp": pd.date_range("2024-01-02 00:00", periods=n, freq="min", tz="UTC"),
        "open": open_, "high": hi, "low": lo, "close": close,
        "volume": rng.integers(1, 500, n).astype(np.float64),
    })
    return bars, states.astype(np.int64)


