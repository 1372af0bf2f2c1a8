"""Sample weights for overlapping labels: average uniqueness and return attribution (de Prado, AFML ch. 4).

A label i spans the bars ``[t0_i, t1_i]`` (both included). Overlapping spans share information, so they
should not count as independent samples.

    concurrency  c_j = #{i : t0_i <= j <= t1_i}
    uniqueness   u_i = mean_{j = t0_i..t1_i} 1 / c_j
    attribution  w_i = | sum_{j = t0_i+1..t1_i} r_j / c_j |,  r_j = log(C_j / C_{j-1}),
                 rescaled so that the weights of the valid labels sum to their number.

Both are O(n_bars + n_labels): the concurrency is a difference array (+1 at t0, -1 after t1) and its cumulative
sum; a span's sum of any per-bar quantity is a difference of prefix sums.
"""

from __future__ import annotations

import numpy as np

from factory.errors import ConfigError


def _spans(t0, t1, n_bars: int):
    t0 = np.asarray(t0, dtype=np.int64)
    t1 = np.asarray(t1, dtype=np.int64)
    if t0.shape != t1.shape or t0.ndim != 1:
        raise ConfigError(f"t0 and t1 must be 1-D arrays of the same length, got {t0.shape} and {t1.shape}")
    valid = (t1 >= t0) & (t0 >= 0)
    if np.any(t1[valid] >= n_bars):
        raise ConfigError(f"label spans end past n_bars={n_bars}")
    return t0, t1, valid


def concurrency(t0, t1, n_bars: int) -> np.ndarray:
    """``c_j``: number of valid labels whose span ``[t0_i, t1_i]`` covers bar j (int64, length ``n_bars``).

    Labels with ``t1 < t0`` (e.g. ``t1 = -1``, invalid) are ignored.
    """
    t0, t1, valid = _spans(t0, t1, n_bars)
    diff = np.bincount(t0[valid], minlength=n_bars + 1) - np.bincount(t1[valid] + 1, minlength=n_bars + 1)
    return np.cumsum(diff[:-1]).astype(np.int64)


def _span_sums(per_bar: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``sum(per_bar[lo_i .. hi_i])`` for each i (inclusive), via prefix sums."""
    prefix = np.concatenate([[0.0], np.cumsum(per_bar)])
    return prefix[hi + 1] - prefix[lo]


def label_uniqueness_weights(t0, t1, n_bars: int) -> np.ndarray:
    """Average uniqueness ``u_i = mean_{j in [t0_i, t1_i]} 1/c_j`` in (0, 1]; NaN for invalid labels.

    Non-overlapping labels get 1; two labels with identical spans get 0.5 each.
    """
    t0, t1, valid = _spans(t0, t1, n_bars)
    c = concurrency(t0, t1, n_bars)
    inv = np.zeros(n_bars)
    np.divide(1.0, c, out=inv, where=c > 0)
    out = np.full(t0.shape[0], np.nan)
    lo, hi = t0[valid], t1[valid]
    out[valid] = _span_sums(inv, lo, hi) / (hi - lo + 1)
    return out


def return_attribution_weights(t0, t1, close, normalize: bool = True) -> np.ndarray:
    """``w_i = |sum_{j=t0_i+1..t1_i} r_j / c_j|`` with ``r_j = log(C_j / C_{j-1})``; NaN for invalid labels.

    The sum starts at ``t0_i + 1``: the position is entered at bar t0's close, so bar t0's own return is not
    part of its outcome. Concurrency counts the full spans ``[t0_i, t1_i]``, as in the uniqueness. With
    ``normalize`` the valid weights are rescaled to sum to their number (mean 1), unless they are all zero.
    """
    close = np.asarray(close, dtype=np.float64)
    n_bars = close.shape[0]
    t0, t1, valid = _spans(t0, t1, n_bars)
    c = concurrency(t0, t1, n_bars)
    r = np.zeros(n_bars)
    r[1:] = np.log(close[1:] / close[:-1])
    share = np.zeros(n_bars)
    np.divide(r, c, out=share, where=c > 0)
    out = np.full(t0.shape[0], np.nan)
    lo, hi = t0[valid], t1[valid]
    # span (t0, t1]: prefix[hi+1] - prefix[lo+1]; empty (zero) when t1 == t0
    prefix = np.concatenate([[0.0], np.cumsum(share)])
    w = np.abs(prefix[hi + 1] - prefix[lo + 1])
    if normalize and w.size and w.sum() > 0:
        w = w * (w.size / w.sum())
    out[valid] = w
    return out
