"""Tiny bar builders for the label tests: hand-written OHLC rows and a seeded random walk."""

from __future__ import annotations

import numpy as np
import pandas as pd


def bars_from_rows(rows) -> pd.DataFrame:
    """``rows`` = [(open, high, low, close), ...] -> a bars DataFrame with 1-minute UTC timestamps."""
    a = np.asarray(rows, dtype=np.float64)
    n = a.shape[0]
    return pd.DataFrame({
        "timestamp": pd.date_range("2024-01-02 14:30", periods=n, freq="min", tz="UTC"),
        "open": a[:, 0], "high": a[:, 1], "low": a[:, 2], "close": a[:, 3],
        "volume": np.full(n, 100.0),
    })


def random_walk_bars(n: int, seed: int = 0, sigma: float = 1.0, start: float = 5000.0,
                     tick: float = 0.25) -> pd.DataFrame:
    """A tick-rounded Gaussian random walk of closes with highs/lows a half-normal step outside open/close."""
    rng = np.random.default_rng(seed)
    close = start + np.cumsum(sigma * rng.standard_normal(n))
    close = np.round(close / tick) * tick
    open_ = np.r_[start, close[:-1]]
    high = np.maximum(open_, close) + np.round(np.abs(rng.normal(0, sigma / 2, n)) / tick) * tick
    low = np.minimum(open_, close) - np.round(np.abs(rng.normal(0, sigma / 2, n)) / tick) * tick
    return bars_from_rows(np.column_stack([open_, high, low, close]))
