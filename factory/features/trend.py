"""Trend features: directional movement, moving-average distances and slopes, rolling regression.

With A = ATR(14) (floored at 1e-9 * price); EMAs and Wilder's averages keep a bounded window
(:mod:`factory.features.indicators`):

* ``adx_{n}``, ``plus_di_{n}``, ``minus_di_{n}``: Wilder's ADX and directional indicators in [0, 100]
* ``sma_dist_{w}`` = (c - SMA_w) / A, ``ema_dist_{w}`` = (c - EMA_w) / A
* ``sma_slope_{w}`` = (SMA_w[t] - SMA_w[t-k]) / (k A), k = max(1, w // 4) (``ema_slope_{w}`` alike):
  ATRs per bar
* ``ema_cross_{f}_{s}`` = (EMA_f - EMA_s) / A
* ``linreg_slope_{w}``: least-squares slope of ln(c) over the last w bars, in basis points per bar;
  ``linreg_r2_{w}``: its R^2 (how straight the move was)
"""

from __future__ import annotations

from factory.features import indicators as ind
from factory.features import rolling as ro
from factory.features._context import BarContext
from factory.features.config import FeatureConfig


def _slope_lag(w: int) -> int:
    return max(1, w // 4)


def names(cfg: FeatureConfig) -> list[str]:
    out = []
    for n in cfg.oscillator_periods:
        out += [f"adx_{n}", f"plus_di_{n}", f"minus_di_{n}"]
    out += [f"sma_dist_{w}" for w in cfg.windows] + [f"ema_dist_{w}" for w in cfg.windows]
    out += [f"sma_slope_{w}" for w in cfg.windows] + [f"ema_slope_{w}" for w in cfg.windows]
    out += [f"ema_cross_{f}_{s}" for f, s in cfg.ma_cross_pairs]
    out += [f"linreg_slope_{w}" for w in cfg.windows] + [f"linreg_r2_{w}" for w in cfg.windows]
    return out


def lookback(cfg: FeatureConfig) -> int:
    m = cfg.recursion_memory
    ema = {w: ind.ema_span_window(w, m) - 1 for w in cfg.windows}
    return max(
        max(2 * ind.wilder_window(n, m) - 1 for n in cfg.oscillator_periods),  # ADX smooths the smoothed DX
        max(w - 1 + _slope_lag(w) for w in cfg.windows),
        max(ema[w] + _slope_lag(w) for w in cfg.windows),
        max(ind.ema_span_window(s, m) - 1 for _, s in cfg.ma_cross_pairs),
        ind.wilder_window(14, m),
    )


def compute(ctx: BarContext, put) -> None:
    cfg = ctx.config
    h, lo, c = ctx.high, ctx.low, ctx.close
    for n in cfg.oscillator_periods:
        a, p, q = ind.adx(h, lo, c, n, ctx.memory)
        put(f"adx_{n}", a)
        put(f"plus_di_{n}", p)
        put(f"minus_di_{n}", q)
    atr = ctx.atr_den(14)
    for w in cfg.windows:
        put(f"sma_dist_{w}", (c - ctx.sma(w)) / atr)
    for w in cfg.windows:
        put(f"ema_dist_{w}", (c - ctx.ema(w)) / atr)
    for w in cfg.windows:
        k = _slope_lag(w)
        put(f"sma_slope_{w}", ro.diff(ctx.sma(w), k) / (k * atr))
    for w in cfg.windows:
        k = _slope_lag(w)
        put(f"ema_slope_{w}", ro.diff(ctx.ema(w), k) / (k * atr))
    for f, s in cfg.ma_cross_pairs:
        put(f"ema_cross_{f}_{s}", (ctx.ema(f) - ctx.ema(s)) / atr)
    fits = {w: ro.rolling_linreg(ctx.log_close, w) for w in cfg.windows}
    for w in cfg.windows:
        put(f"linreg_slope_{w}", 1e4 * fits[w][0])
    for w in cfg.windows:
        put(f"linreg_r2_{w}", fits[w][1])
