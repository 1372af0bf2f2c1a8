"""Volatility features: range-based and close-to-close estimators, ATR, short/long volatility ratios.

All estimators are per-bar standard deviations of log returns (multiply by sqrt(bars per year) to annualise),
so they are scale-free. Over a window of w bars, with lower-case logs of the bar's prices:

* close-to-close ``vol_cc_{w}``  = sample std of r_t = ln(c_t / c_{t-1})
* Parkinson (1980) ``vol_park_{w}`` = sqrt( mean(ln(h/l)^2) / (4 ln 2) )
* Garman-Klass (1980) ``vol_gk_{w}`` = sqrt( mean( 0.5 ln(h/l)^2 - (2 ln 2 - 1) ln(c/o)^2 ) )
* Rogers-Satchell (1991) ``vol_rs_{w}`` = sqrt( mean( ln(h/c) ln(h/o) + ln(l/c) ln(l/o) ) )
* Yang-Zhang (2000) ``vol_yz_{w}`` = sqrt( V_o + k V_c + (1 - k) V_rs ), V_o the sample variance of the
  opening gaps ln(o_t / c_{t-1}), V_c that of ln(c_t / o_t), V_rs the Rogers-Satchell mean,
  k = 0.34 / (1.34 + (w + 1) / (w - 1))
* ``atr_norm_{n}`` = ATR_n / c_t (Wilder ATR over its bounded window, as a fraction of price)
* ``vol_ratio_{w}`` = vol_cc_w / vol_cc_L, L the longest window (> 1: volatility expanding)

A negative mean (possible for Garman-Klass on tiny windows) is reported as 0.
"""

from __future__ import annotations

import numpy as np

from factory.features import indicators as ind
from factory.features import rolling as ro
from factory.features._context import BarContext
from factory.features.config import FeatureConfig

_EST = ("cc", "park", "gk", "rs", "yz")


def names(cfg: FeatureConfig) -> list[str]:
    out = [f"vol_{e}_{w}" for e in _EST for w in cfg.windows]
    out += [f"atr_norm_{n}" for n in cfg.atr_periods]
    out += [f"vol_ratio_{w}" for w in cfg.windows[:-1]]
    return out


def lookback(cfg: FeatureConfig) -> int:
    # vol_cc / vol_yz read w returns or gaps (w + 1 bars); ATR_n keeps wilder_window(n) true ranges.
    return max(max(cfg.windows), max(ind.wilder_window(n, cfg.recursion_memory) for n in cfg.atr_periods))


def _sqrt_mean(x: np.ndarray, w: int) -> np.ndarray:
    return np.sqrt(np.maximum(ro.rolling_sum(x, w) / w, 0.0))


def yang_zhang_var(gap: np.ndarray, oc: np.ndarray, rs: np.ndarray, w: int) -> np.ndarray:
    """Yang-Zhang variance over w bars from per-bar opening gaps, open-to-close log returns and RS terms."""
    k = 0.34 / (1.34 + (w + 1.0) / (w - 1.0))
    v_o = ro.rolling_std(gap, w, 1) ** 2
    v_c = ro.rolling_std(oc, w, 1) ** 2
    v_rs = ro.rolling_sum(rs, w) / w
    return v_o + k * v_c + (1.0 - k) * v_rs


def compute(ctx: BarContext, put) -> None:
    cfg = ctx.config
    o, h, lo, c = ctx.open, ctx.high, ctx.low, ctx.close
    lo_ = np.log(o)
    lh = np.log(h) - lo_  # ln(h/o)
    ll = np.log(lo) - lo_  # ln(l/o)
    lc = ctx.log_close - lo_  # ln(c/o)
    hl2 = (lh - ll) ** 2  # ln(h/l)^2
    rs = lh * (lh - lc) + ll * (ll - lc)  # ln(h/o) ln(h/c) + ln(l/o) ln(l/c)
    gk = 0.5 * hl2 - (2.0 * np.log(2.0) - 1.0) * lc * lc
    gap = lo_ - ro.lag(ctx.log_close, 1)
    del lh, ll, lo_

    for w in cfg.windows:
        put(f"vol_cc_{w}", ctx.ret_std(w))
    for w in cfg.windows:
        put(f"vol_park_{w}", _sqrt_mean(hl2 / (4.0 * np.log(2.0)), w))
    for w in cfg.windows:
        put(f"vol_gk_{w}", _sqrt_mean(gk, w))
    for w in cfg.windows:
        put(f"vol_rs_{w}", _sqrt_mean(rs, w))
    for w in cfg.windows:
        put(f"vol_yz_{w}", np.sqrt(np.maximum(yang_zhang_var(gap, lc, rs, w), 0.0)))
    for n in cfg.atr_periods:
        put(f"atr_norm_{n}", ctx.atr(n) / c)
    long_sd = ctx.ret_std(max(cfg.windows))
    for w in cfg.windows[:-1]:
        put(f"vol_ratio_{w}", ro.safe_div(ctx.ret_std(w), long_sd, 1.0))
