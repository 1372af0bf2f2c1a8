"""Band and channel features: where the close sits inside a band, and how wide the band is.

* ``bb_pctb_{w}`` = (c - L) / (U - L) and ``bb_width_{w}`` = (U - L) / M for Bollinger bands
  M = SMA_w, U/L = M +- 2 * population std over w bars (%B is 0.5 on a flat window)
* ``keltner_pos_{w}`` = (c - EMA_w) / (2 * ATR_w): -1 / +1 at the lower / upper Keltner band
* ``donchian_pos_{w}`` = (c - LL_w) / (HH_w - LL_w) (0.5 without range) and ``donchian_width_{w}`` = ln(HH_w / LL_w),
  HH / LL the highest high / lowest low of the last w bars
"""

from __future__ import annotations

import numpy as np

from factory.features import indicators as ind
from factory.features import rolling as ro
from factory.features._context import BarContext
from factory.features.config import FeatureConfig


def names(cfg: FeatureConfig) -> list[str]:
    out = []
    for w in cfg.band_windows:
        out += [f"bb_pctb_{w}", f"bb_width_{w}"]
    out += [f"keltner_pos_{w}" for w in cfg.band_windows]
    for w in cfg.windows:
        out += [f"donchian_pos_{w}", f"donchian_width_{w}"]
    return out


def lookback(cfg: FeatureConfig) -> int:
    m = cfg.recursion_memory
    keltner = max(max(ind.ema_span_window(w, m) - 1, ind.wilder_window(w, m)) for w in cfg.band_windows)
    return max(max(cfg.band_windows) - 1, max(cfg.windows) - 1, keltner)


def compute(ctx: BarContext, put) -> None:
    cfg = ctx.config
    c = ctx.close
    for w in cfg.band_windows:
        up, mid, low = ind.bollinger(c, w, 2.0)
        width = up - low
        put(f"bb_pctb_{w}", ro.safe_div(c - low, width, 0.5))
        put(f"bb_width_{w}", width / mid)
    for w in cfg.band_windows:
        put(f"keltner_pos_{w}", (c - ctx.ema(w)) / (2.0 * ctx.atr_den(w)))
    for w in cfg.windows:
        hh = ctx.rolling_max("high", w)
        ll = ctx.rolling_min("low", w)
        put(f"donchian_pos_{w}", ro.safe_div(c - ll, hh - ll, 0.5))
        put(f"donchian_width_{w}", np.log(hh / ll))
