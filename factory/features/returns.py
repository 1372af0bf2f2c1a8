"""Return features: multi-horizon log returns, bar shape, volatility-scaled returns, return moments.

* ``ret_log_{h}``   = ln(c_t / c_{t-h})
* ``bar_log_hl``    = ln(h_t / l_t) (bar range), ``bar_log_co`` = ln(c_t / o_t), ``bar_gap`` = ln(o_t / c_{t-1})
* ``bar_body``      = (c - o) / (h - l), ``bar_upper_wick`` = (h - max(o, c)) / (h - l),
  ``bar_lower_wick`` = (min(o, c) - l) / (h - l), ``bar_close_pos`` = (c - l) / (h - l) (0.5 / 0 on a no-range bar)
* ``ret_z_{w}``     = ln(c_t / c_{t-w}) / (sigma_L * sqrt(w)), sigma_L the per-bar close-to-close volatility over
  the longest window L: a w-bar move in units of its typical size
* ``ret_skew_{w}``, ``ret_kurt_{w}`` (excess), ``ret_acf1_{w}`` = corr(r_t, r_{t-1}) of 1-bar log returns over w bars
"""

from __future__ import annotations

import numpy as np

from factory.features import rolling as ro
from factory.features._context import BarContext
from factory.features.config import FeatureConfig

_BAR = ["bar_log_hl", "bar_log_co", "bar_gap", "bar_body", "bar_upper_wick", "bar_lower_wick", "bar_close_pos"]


def names(cfg: FeatureConfig) -> list[str]:
    out = [f"ret_log_{h}" for h in cfg.return_horizons] + list(_BAR)
    out += [f"ret_z_{w}" for w in cfg.windows]
    for w in cfg.stat_windows:
        out += [f"ret_skew_{w}", f"ret_kurt_{w}", f"ret_acf1_{w}"]
    return out


def lookback(cfg: FeatureConfig) -> int:
    # ret_log_h reads h bars back; ret_z the longest window of returns (one more close); the lag-1
    # autocorrelation pairs each return with the one before it.
    return max(max(cfg.return_horizons), max(cfg.windows), max(cfg.stat_windows) + 1)


def _moments(r: np.ndarray, w: int):
    # Central moments from rolling power sums of the returns (their mean is tiny against their spread, so
    # raw power sums lose no precision); the bias-corrected estimators pandas uses (skew G1, excess
    # kurtosis G2).
    mean, sd = ro.rolling_mean_std(r, w, 0)
    m1 = mean
    s2 = ro.rolling_sum(r * r, w) / w
    s3 = ro.rolling_sum(r * r * r, w) / w
    s4 = ro.rolling_sum((r * r) ** 2, w) / w
    m2 = sd * sd
    m3 = s3 - 3 * m1 * s2 + 2 * m1**3
    m4 = s4 - 4 * m1 * s3 + 6 * m1 * m1 * s2 - 3 * m1**4
    g1 = ro.safe_div(m3, m2**1.5, 0.0)
    skew = np.sqrt(w * (w - 1.0)) / (w - 2.0) * g1
    g2 = ro.safe_div(m4, m2 * m2, 0.0) - 3.0
    kurt = (w - 1.0) / ((w - 2.0) * (w - 3.0)) * ((w + 1.0) * g2 + 6.0)
    kurt[m2 == 0] = 0.0  # flat window: no shape, report the normal value
    return skew, kurt


def compute(ctx: BarContext, put) -> None:
    cfg = ctx.config
    lc = ctx.log_close
    for h in cfg.return_horizons:
        put(f"ret_log_{h}", ro.diff(lc, h))

    o, hi, lo, c = ctx.open, ctx.high, ctx.low, ctx.close
    put("bar_log_hl", np.log(hi / lo))
    put("bar_log_co", np.log(c / o))
    put("bar_gap", np.log(o) - ro.lag(lc, 1))
    rng = hi - lo
    put("bar_body", ro.safe_div(c - o, rng, 0.0))
    put("bar_upper_wick", ro.safe_div(hi - np.maximum(o, c), rng, 0.0))
    put("bar_lower_wick", ro.safe_div(np.minimum(o, c) - lo, rng, 0.0))
    put("bar_close_pos", ro.safe_div(c - lo, rng, 0.5))

    long_sd = ctx.ret_std(max(cfg.windows))
    for w in cfg.windows:
        put(f"ret_z_{w}", ro.safe_div(ro.diff(lc, w), long_sd * np.sqrt(w), 0.0))

    r = ctx.log_ret
    r_prev = ro.lag(r, 1)
    for w in cfg.stat_windows:
        skew, kurt = _moments(r, w)
        put(f"ret_skew_{w}", skew)
        put(f"ret_kurt_{w}", kurt)
        put(f"ret_acf1_{w}", ro.rolling_cov_corr(r, r_prev, w)[1])
