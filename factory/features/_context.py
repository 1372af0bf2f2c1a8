"""Per-call cache of the bar arrays and of intermediate series several feature families share.

Families ask the context for e.g. ``ctx.atr(14)`` or ``ctx.rolling_max("high", 60)``; each is computed once
per :func:`compute_features` call. All arrays are float64 and causal (see :mod:`factory.features.rolling`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from factory.features import indicators as ind
from factory.features import rolling as ro
from factory.features.config import FeatureConfig


class BarContext:
    def __init__(self, ts_ns: np.ndarray, o, h, lo, c, v, config: FeatureConfig):
        self.ts_ns = ts_ns  # int64 UTC nanoseconds
        self.open = o
        self.high = h
        self.low = lo
        self.close = c
        self.volume = v
        self.config = config
        self.n = c.shape[0]
        self._cache: dict = {}

    def _memo(self, key, fn: Callable[[], np.ndarray]):
        val = self._cache.get(key)
        if val is None:
            val = fn()
            self._cache[key] = val
        return val

    # --- price transforms -------------------------------------------------------------------------
    @property
    def log_close(self) -> np.ndarray:
        return self._memo(("log_close",), lambda: np.log(self.close))

    @property
    def log_ret(self) -> np.ndarray:
        """r_t = ln(c_t / c_{t-1}); NaN at bar 0."""
        return self._memo(("log_ret",), lambda: ro.diff(self.log_close, 1))

    @property
    def typical(self) -> np.ndarray:
        return self._memo(("typical",), lambda: (self.high + self.low + self.close) / 3.0)

    def series(self, name: str) -> np.ndarray:
        return getattr(self, name)

    # --- shared indicators -------------------------------------------------------------------------
    @property
    def memory(self) -> float:
        return self.config.recursion_memory

    def atr(self, n: int) -> np.ndarray:
        """Wilder ATR_n over its bounded window; lookback ``wilder_window(n)``."""
        return self._memo(("atr", n), lambda: ind.atr(self.high, self.low, self.close, n, self.memory))

    def atr_den(self, n: int = 14) -> np.ndarray:
        """ATR_n floored at 1e-9 * close: a normaliser that never divides by (numerically) zero."""
        return self._memo(("atr_den", n), lambda: np.maximum(self.atr(n), 1e-9 * self.close))

    def sma(self, n: int) -> np.ndarray:
        return self._memo(("sma", n), lambda: ro.rolling_mean(self.close, n))

    def ema(self, n: int) -> np.ndarray:
        """EMA_n of the close over its bounded window; lookback ``ema_span_window(n) - 1``."""
        return self._memo(("ema", n), lambda: ind.ema(self.close, n, self.memory))

    def rolling_max(self, col: str, n: int) -> np.ndarray:
        return self._memo(("max", col, n), lambda: ro.rolling_max(self.series(col), n))

    def rolling_min(self, col: str, n: int) -> np.ndarray:
        return self._memo(("min", col, n), lambda: ro.rolling_min(self.series(col), n))

    def ret_std(self, n: int) -> np.ndarray:
        """Sample std (ddof=1) of 1-bar log returns over n bars: close-to-close volatility per bar."""
        return self._memo(("ret_std", n), lambda: ro.rolling_std(self.log_ret, n, 1))

    def volume_mean(self, n: int) -> np.ndarray:
        return self._memo(("volume_mean", n), lambda: ro.rolling_mean(self.volume, n))
