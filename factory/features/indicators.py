"""Causal indicator primitives shared by the feature set, the labels and the regimes.

Every function takes NumPy float64 arrays aligned on bars and returns an array of the same length whose value at
bar t depends only on bars <= t. Leading values without a full window are NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """max(high - low, |high - prev close|, |low - prev close|); the first bar uses high - low."""
    prev = np.empty_like(close)
    prev[0] = np.nan
    prev[1:] = close[:-1]
    tr = np.fmax(high - low, np.fmax(np.abs(high - prev), np.abs(low - prev)))
    return tr


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int = 14) -> np.ndarray:
    """Wilder's average true range (an EMA with alpha = 1/window), NaN for the first ``window - 1`` bars."""
    tr = true_range(np.asarray(high, float), np.asarray(low, float), np.asarray(close, float))
    out = pd.Series(tr).ewm(alpha=1.0 / window, adjust=False, min_periods=window).mean().to_numpy()
    return out
