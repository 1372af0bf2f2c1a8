"""Fractionally differentiated log price (fixed-width window), after Lopez de Prado (2018, ch. 5).

(1 - B)^d x_t = sum_k w_k x_{t-k} with w_0 = 1 and w_k = -w_{k-1} (d - k + 1) / k. The weights are cut where
|w_k| first drops below ``threshold``, leaving K weights, so every output is a dot product over the same K
past values: x~_t = sum_{k<K} w_k x_{t-k}, NaN for t < K - 1. It keeps much of the level's memory while
being far closer to stationary than the price (d = 0 is the price, d = 1 the return).

* ``fracdiff``     = x~_t on x = ln(c)
* ``fracdiff_z``   = z-score of x~ over the longest window (the level of x~ depends on the price level)
"""

from __future__ import annotations

import functools

import numpy as np

from factory.features import rolling as ro
from factory.features._context import BarContext
from factory.features.config import FeatureConfig

NAMES = ["fracdiff", "fracdiff_z"]


def fracdiff_weights(d: float, threshold: float, max_width: int = 100_000) -> np.ndarray:
    """w_0..w_{K-1} of (1 - B)^d, stopping before the first |w_k| < threshold (w_0 = 1 comes first)."""
    return _weights(float(d), float(threshold), int(max_width)).copy()


@functools.lru_cache(maxsize=32)
def _weights(d: float, threshold: float, max_width: int) -> np.ndarray:
    # The same few settings come back for every served request: computed once each.
    w = [1.0]
    k = 1
    while k < max_width:
        nxt = -w[-1] * (d - k + 1) / k
        if abs(nxt) < threshold:
            break
        w.append(nxt)
        k += 1
    return np.asarray(w)


def fracdiff(x: np.ndarray, d: float, threshold: float) -> np.ndarray:
    """Fixed-width fractional difference of x (causal: output t uses x[t-K+1 .. t])."""
    w = fracdiff_weights(d, threshold)
    # np.convolve evaluates each output as a direct dot product with the past values (no FFT), so outputs
    # never mix in later inputs, not even through rounding.
    out = np.convolve(x, w, mode="full")[: x.shape[0]]
    out[: len(w) - 1] = np.nan
    return out


def names(cfg: FeatureConfig) -> list[str]:
    return list(NAMES)


def lookback(cfg: FeatureConfig) -> int:
    return len(fracdiff_weights(cfg.fracdiff_d, cfg.fracdiff_threshold)) - 1 + max(cfg.windows) - 1


def compute(ctx: BarContext, put) -> None:
    cfg = ctx.config
    fd = fracdiff(ctx.log_close, cfg.fracdiff_d, cfg.fracdiff_threshold)
    put("fracdiff", fd)
    mean, sd = ro.rolling_mean_std(fd, max(cfg.windows), 1)
    put("fracdiff_z", ro.safe_div(fd - mean, sd, 0.0))
