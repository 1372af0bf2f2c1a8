"""Volume and microstructure features, all free of the contract's volume units and price level.

With r_t = ln(c_t / c_{t-1}), tp = (h + l + c) / 3, A = ATR(14) and sums over the last w bars:

* ``obv_flow_{w}``    = sum sign(c_t - c_{t-1}) v_t / sum v_t: the w-bar change of on-balance volume as a
  fraction of the volume traded, in [-1, 1]
* ``vwap_dist_{w}``   = (c - VWAP_w) / A, VWAP_w = sum tp v / sum v (0 without volume)
* ``vwap_dist_session`` = (c - session VWAP) / A, the VWAP accumulated since the session opened (over at most
  the session's longest length in bars; see :func:`factory.features.calendar.session_window_starts`)
* ``volume_z_{w}``    = z-score of ln(1 + v_t) over w bars
* ``volume_ratio_{a}_{b}`` = ln((1 + mean_a v) / (1 + mean_b v)), a / b the shortest / longest window
* ``amihud_{w}``      = 1e4 * mean(|r_t| * 2 V_t / (v_t + V_t)), V_t = mean volume over the longest window:
  Amihud's (2002) illiquidity |r| / volume with volume measured relative to its recent norm (and smoothed
  by it, so zero-volume bars stay finite), in basis points: |r| when v = V, up to 2|r| on thin bars
* ``roll_spread_{w}`` = 1e4 * 2 sqrt(max(0, -cov(r_t, r_{t-1}))): Roll's (1984) effective spread, basis points
* ``vol_ret_corr_{w}`` = corr(|r_t|, ln(1 + v_t)): how much volume accompanies large moves
"""

from __future__ import annotations

import numpy as np
from numba import njit

from factory.features import rolling as ro
from factory.features._context import BarContext
from factory.features import indicators as ind
from factory.features.calendar import lookback as session_lookback
from factory.features.calendar import session_window_starts
from factory.features.config import FeatureConfig


def names(cfg: FeatureConfig) -> list[str]:
    out = [f"obv_flow_{w}" for w in cfg.windows]
    out += [f"vwap_dist_{w}" for w in cfg.band_windows] + ["vwap_dist_session"]
    out += [f"volume_z_{w}" for w in cfg.band_windows]
    out += [f"volume_ratio_{min(cfg.windows)}_{max(cfg.windows)}"]
    out += [f"amihud_{w}" for w in cfg.stat_windows]
    out += [f"roll_spread_{w}" for w in cfg.band_windows]
    out += [f"vol_ret_corr_{w}" for w in cfg.stat_windows]
    return out


def lookback(cfg: FeatureConfig) -> int:
    longest = max(cfg.windows)
    return max(
        max(cfg.windows),  # obv_flow: w signed changes
        max(cfg.band_windows) + 1,  # roll_spread: w returns paired with the one before
        max(cfg.stat_windows) + max(1, longest - 1) - 1,  # amihud: w bars of |r| against V (longest window)
        ind.wilder_window(14, cfg.recursion_memory),  # the ATR the VWAP distances are divided by
        session_lookback(cfg),
    )


@njit(cache=True, nogil=True)
def _session_vwap_k(tp, v, start, out):
    # Sums over [start[t], t]. start only moves forward: by one bar (the window slides: add t, drop the
    # oldest) or to a new session's first bar (start afresh). A count of the bars with volume makes a window
    # without any exactly "no volume" whatever the running sum's rounding.
    n = tp.shape[0]
    pv = 0.0
    vv = 0.0
    nv = 0
    lo = -1
    for i in range(n):
        s = start[i]
        if s < 0:
            out[i] = np.nan
            continue
        if lo < 0 or s > lo + 1 or s == i:
            pv = 0.0
            vv = 0.0
            nv = 0
            for j in range(s, i + 1):
                pv += tp[j] * v[j]
                vv += v[j]
                nv += 1 if v[j] != 0.0 else 0
        else:
            if s == lo + 1:
                pv -= tp[lo] * v[lo]
                vv -= v[lo]
                nv -= 1 if v[lo] != 0.0 else 0
            pv += tp[i] * v[i]
            vv += v[i]
            nv += 1 if v[i] != 0.0 else 0
        lo = s
        out[i] = pv / vv if nv > 0 and vv > 0 else tp[i]


def session_vwap(tp: np.ndarray, v: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Volume-weighted average of ``tp`` over rows ``start[t] .. t`` (``tp`` itself before any volume; NaN
    where ``start`` is -1)."""
    out = np.empty(tp.shape[0])
    _session_vwap_k(tp, v, start, out)
    return out


def compute(ctx: BarContext, put) -> None:
    cfg = ctx.config
    c, v = ctx.close, ctx.volume
    r = ctx.log_ret
    atr = ctx.atr_den(14)

    flow = np.sign(ro.diff(c, 1)) * v
    for w in cfg.windows:
        put(f"obv_flow_{w}", ro.safe_div(ro.rolling_sum(flow, w), ro.rolling_sum(v, w), 0.0))
    del flow

    for w in cfg.band_windows:
        vwap, sv = ro.rolling_weighted_mean(ctx.typical, v, w)
        dist = (c - vwap) / atr
        dist[sv == 0] = 0.0  # no volume in the window: no VWAP to be away from
        put(f"vwap_dist_{w}", dist)
    put("vwap_dist_session", (c - session_vwap(ctx.typical, v, session_window_starts(ctx))) / atr)

    lv = np.log1p(v)
    for w in cfg.band_windows:
        mean, sd = ro.rolling_mean_std(lv, w, 1)
        put(f"volume_z_{w}", ro.safe_div(lv - mean, sd, 0.0))
    a, b = min(cfg.windows), max(cfg.windows)
    put(f"volume_ratio_{a}_{b}", np.log((1.0 + ctx.volume_mean(a)) / (1.0 + ctx.volume_mean(b))))

    ar = np.abs(r)
    vbar = ctx.volume_mean(b)
    illiq = ar * ro.safe_div(2.0 * vbar, v + vbar, 1.0)
    for w in cfg.stat_windows:
        put(f"amihud_{w}", 1e4 * ro.rolling_mean(illiq, w))
    del illiq

    r_prev = ro.lag(r, 1)
    for w in cfg.band_windows:
        cov = ro.rolling_cov_corr(r, r_prev, w)[0]
        put(f"roll_spread_{w}", 2e4 * np.sqrt(np.maximum(-cov, 0.0)))
    for w in cfg.stat_windows:
        put(f"vol_ret_corr_{w}", ro.rolling_cov_corr(ar, lv, w)[1])
