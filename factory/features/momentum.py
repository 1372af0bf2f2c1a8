"""Momentum oscillators (definitions, bounded recursions included, in :mod:`factory.features.indicators`).

* ``rsi_{n}``: Wilder RSI in [0, 100]
* ``macd_{f}_{s}_{line,signal,hist}``: MACD line, signal and histogram divided by the close (scale-free),
  ``macd_{f}_{s}_{line,hist}_atr``: the same in units of ATR(14)
* ``roc_{n}``: rate of change in percent
* ``stoch_k_{n}``, ``stoch_d_{n}``: slow stochastic (3-bar SMA smoothing) in [0, 100]
* ``willr_{n}``: Williams %R in [-100, 0]
* ``cci_{n}``: commodity channel index
* ``mfi_{n}``: money flow index in [0, 100]
"""

from __future__ import annotations

from factory.features import indicators as ind
from factory.features._context import BarContext
from factory.features.config import FeatureConfig


def names(cfg: FeatureConfig) -> list[str]:
    out = [f"rsi_{n}" for n in cfg.rsi_periods]
    for f, s, _ in cfg.macd:
        p = f"macd_{f}_{s}"
        out += [f"{p}_line", f"{p}_signal", f"{p}_hist", f"{p}_line_atr", f"{p}_hist_atr"]
    out += [f"roc_{n}" for n in cfg.roc_periods]
    for n in cfg.oscillator_periods:
        out += [f"stoch_k_{n}", f"stoch_d_{n}"]
    out += [f"willr_{n}" for n in cfg.oscillator_periods]
    out += [f"cci_{n}" for n in cfg.cci_periods]
    out += [f"mfi_{n}" for n in cfg.oscillator_periods]
    return out


def lookback(cfg: FeatureConfig) -> int:
    m = cfg.recursion_memory
    return max(
        max(ind.wilder_window(n, m) for n in cfg.rsi_periods),
        max(ind.ema_span_window(s, m) + ind.ema_span_window(g, m) - 2 for _, s, g in cfg.macd),
        ind.wilder_window(14, m),  # the ATR(14) the MACD is divided by
        max(cfg.roc_periods),
        max(cfg.oscillator_periods) + 3,  # n-bar channel, then two 3-bar averages
        max(cfg.cci_periods) - 1,
        max(cfg.oscillator_periods),  # MFI: n flows, each against the bar before
    )


def compute(ctx: BarContext, put) -> None:
    cfg = ctx.config
    h, lo, c, v = ctx.high, ctx.low, ctx.close, ctx.volume
    m = ctx.memory
    for n in cfg.rsi_periods:
        put(f"rsi_{n}", ind.rsi(c, n, m))
    atr = ctx.atr_den(14)
    for f, s, g in cfg.macd:
        p = f"macd_{f}_{s}"
        line, sig, hist = ind.macd(c, f, s, g, m)
        put(f"{p}_line", line / c)
        put(f"{p}_signal", sig / c)
        put(f"{p}_hist", hist / c)
        put(f"{p}_line_atr", line / atr)
        put(f"{p}_hist_atr", hist / atr)
    for n in cfg.roc_periods:
        put(f"roc_{n}", ind.roc(c, n))
    for n in cfg.oscillator_periods:
        k, d = ind.stochastic(h, lo, c, n, hh=ctx.rolling_max("high", n), ll=ctx.rolling_min("low", n))
        put(f"stoch_k_{n}", k)
        put(f"stoch_d_{n}", d)
    for n in cfg.oscillator_periods:
        put(f"willr_{n}", ind.williams_r(h, lo, c, n, hh=ctx.rolling_max("high", n), ll=ctx.rolling_min("low", n)))
    for n in cfg.cci_periods:
        put(f"cci_{n}", ind.cci(h, lo, c, n))
    for n in cfg.oscillator_periods:
        put(f"mfi_{n}", ind.mfi(h, lo, c, v, n))
