"""Complexity and persistence features of the return series.

* ``sign_entropy_{w}``: Shannon entropy of the last w two-bar sign patterns (s_{t-1}, s_t) with
  s = sign(r) in {-1, 0, +1} (9 patterns), divided by ln 9: 1 = patterns equally likely (noise),
  lower = repetitive (trends, alternation, or many unchanged bars)
* ``hurst_vr_{q}``: Hurst exponent from Lo-MacKinlay's variance ratio over the longest window L:
  VR = var(q-bar log returns) / (q var(1-bar log returns)) = q^(2H - 1), so H = 0.5 + ln(VR) / (2 ln q),
  with VR clipped to [1/q, q] (H in [0, 1]); 0.5 = random walk, > 0.5 trending, < 0.5 mean-reverting
* ``eff_ratio_{w}``: Kaufman's efficiency ratio signed, ln(c_t / c_{t-w}) / sum |r| over the w bars, in [-1, 1]
"""

from __future__ import annotations

import numpy as np
from numba import njit

from factory.features import rolling as ro
from factory.features._context import BarContext
from factory.features.config import FeatureConfig


def names(cfg: FeatureConfig) -> list[str]:
    out = [f"sign_entropy_{w}" for w in cfg.band_windows]
    out += [f"hurst_vr_{q}" for q in cfg.hurst_lags]
    out += [f"eff_ratio_{w}" for w in cfg.windows]
    return out


def lookback(cfg: FeatureConfig) -> int:
    # w sign patterns (r_{t-1}, r_t) read w + 1 returns, i.e. w + 1 bars back; the q-bar variance ratio
    # takes the std of L q-bar returns (q + L - 1 bars back) against that of L 1-bar returns (L back).
    big = max(cfg.windows)
    return max(max(cfg.band_windows) + 1, big + max(cfg.hurst_lags) - 1, big)


@njit(cache=True, nogil=True)
def _pattern(a: float, b: float) -> int:
    # 3 * s(a) + s(b) with s in {0: down, 1: unchanged, 2: up}; -1 if either return is missing
    if not (np.isfinite(a) and np.isfinite(b)):
        return -1
    sa = 0 if a < 0 else (1 if a == 0 else 2)
    sb = 0 if b < 0 else (1 if b == 0 else 2)
    return 3 * sa + sb


@njit(cache=True, nogil=True)
def _sign_entropy_k(r, w, out):
    n = r.shape[0]
    nlogn = np.zeros(w + 1)
    for k in range(1, w + 1):
        nlogn[k] = k * np.log(k)
    counts = np.zeros(9, np.int64)
    valid = 0
    log_w = np.log(w)
    norm = np.log(9.0)
    for i in range(n):
        out[i] = np.nan
        if i >= 1:
            p = _pattern(r[i - 1], r[i])
            if p >= 0:
                counts[p] += 1
                valid += 1
        if i - w >= 1:
            p = _pattern(r[i - w - 1], r[i - w])
            if p >= 0:
                counts[p] -= 1
                valid -= 1
        if valid == w:
            s = 0.0
            for j in range(9):
                s += nlogn[counts[j]]
            out[i] = (log_w - s / w) / norm


def sign_entropy(r: np.ndarray, w: int) -> np.ndarray:
    """Rolling normalised entropy of two-bar sign patterns (see module docstring); NaN until w patterns exist.

    A kernel because it needs a 9-bin rolling histogram, which no vectorised library call provides.
    H = ln w - (1/w) sum_j n_j ln n_j over the pattern counts n_j, with n ln n from a table.
    """
    r = np.ascontiguousarray(r, dtype=np.float64)
    out = np.empty(r.shape[0])
    _sign_entropy_k(r, int(w), out)
    return out


def compute(ctx: BarContext, put) -> None:
    cfg = ctx.config
    r = ctx.log_ret
    lc = ctx.log_close
    for w in cfg.band_windows:
        put(f"sign_entropy_{w}", sign_entropy(r, w))
    big = max(cfg.windows)
    var1 = ctx.ret_std(big) ** 2
    for q in cfg.hurst_lags:
        varq = ro.rolling_std(ro.diff(lc, q), big, 1) ** 2
        vr = ro.safe_div(varq, q * var1, 1.0)
        vr = np.clip(vr, 1.0 / q, float(q))
        put(f"hurst_vr_{q}", 0.5 + np.log(vr) / (2.0 * np.log(q)))
    abs_r = np.abs(r)
    for w in cfg.windows:
        put(f"eff_ratio_{w}", ro.safe_div(ro.diff(lc, w), ro.rolling_sum(abs_r, w), 0.0))
