"""Settings of the causal feature set and the fitted FeaturePipeline.

Window lengths count bars. Which family uses which setting:

* ``return_horizons``: log returns ``ret_log_{h}``;
* ``windows``: volatility estimators, return z-scores, distances to / slopes of moving averages, rolling
  regression, Donchian channels, OBV flow, efficiency ratio; the largest one is the "long" reference window;
* ``band_windows``: Bollinger and Keltner bands, VWAP distances, volume z-scores, Roll spread, sign entropy;
* ``stat_windows``: higher moments and correlations (skew, kurtosis, autocorrelation, Amihud);
* the indicator periods: RSI, MACD, ROC, stochastic / Williams %R / ADX / MFI (``oscillator_periods``), CCI, ATR;
* ``higher_timeframes``: features of completed higher-time-frame bars (``htf_period`` on those bars, every one
  of them over the last ``htf_window`` completed ones); ``bar_freq`` is the smallest spacing of the input
  bars, which turns the higher-time-frame and session lookbacks into a number of input bars (bars closer
  together than ``bar_freq`` are an error when higher time frames are on);
* ``session_tz`` / ``session_open`` / ``rth``: the exchange calendar (CME Globex equity futures by default);
  ``session_length`` is the longest session (Globex: 17:00 to 16:00, 23 hours): features accumulated since
  the session opened (session VWAP, bars since the open) read at most ``session_length / bar_freq`` bars;
* ``recursion_memory``: recursive smoothers (EMA, Wilder's averages) keep ``ceil(recursion_memory / alpha)``
  bars, leaving out a weight of about ``e^-recursion_memory``.

Every feature has a declared lookback (:func:`factory.features.lookback_bars`): its value at bar t is a
function of bars t - lookback .. t only, so a served request of ``lookback + 1`` bars computes exactly what
training computed at that bar.
"""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd
from pydantic import Field, field_validator, model_validator

from factory._config_base import StrictConfig

_Periods = tuple[int, ...]


def _positive_sorted(v: tuple[int, ...], minimum: int = 1) -> tuple[int, ...]:
    if not v:
        raise ValueError("must not be empty")
    if any(int(x) < minimum for x in v):
        raise ValueError(f"every value must be >= {minimum}")
    if len(set(v)) != len(v):
        raise ValueError("values must be unique")
    return tuple(sorted(int(x) for x in v))


def clock_minutes(hhmm: str) -> int:
    hh, mm = hhmm.split(":")
    h, m = int(hh), int(mm)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"not a time of day: {hhmm!r}")
    return 60 * h + m


class FeatureConfig(StrictConfig):
    return_horizons: _Periods = (1, 2, 3, 5, 10, 15, 30, 60, 120, 240)
    windows: _Periods = (10, 20, 60, 240)
    band_windows: _Periods = (20, 60, 240)
    stat_windows: _Periods = (60, 240)
    rsi_periods: _Periods = (7, 14, 28)
    macd: tuple[tuple[int, int, int], ...] = ((12, 26, 9), (48, 104, 36))
    roc_periods: _Periods = (20, 45, 90)
    oscillator_periods: _Periods = (14, 60)
    cci_periods: _Periods = (20, 60)
    atr_periods: _Periods = (5, 14, 60, 240)
    # EMA pairs (fast, slow) whose spread, in ATRs, is a feature.
    ma_cross_pairs: tuple[tuple[int, int], ...] = ((10, 60), (20, 240), (60, 240))
    # Variance-ratio horizons (bars) of the Hurst estimate, over the largest window.
    hurst_lags: _Periods = (4, 16)
    # Higher time frames built causally from completed higher bars only (fixed-length pandas offsets).
    higher_timeframes: tuple[str, ...] = ("15min", "60min")
    htf_window: int = Field(20, ge=2)
    htf_period: int = Field(14, ge=2)
    bar_freq: str = "1min"
    recursion_memory: float = Field(5.0, ge=1.0, le=50.0)
    fracdiff_d: float = Field(0.4, gt=0, lt=1)
    fracdiff_threshold: float = Field(1e-4, gt=0)
    session_tz: str = "America/Chicago"
    session_open: str = "17:00"
    session_length: str = "23h"
    rth: tuple[str, str] = ("08:30", "15:00")
    # Scaling fitted on training rows only: "robust" (median / IQR) or "standard" (mean / std).
    scaling: Literal["robust", "standard", "none"] = "robust"
    clip: float = Field(10.0, gt=0)
    # float64 by default: model inputs then carry the features' full precision, so the rounding differences
    # between a short served request and the full history (~1e-14) never move a value by a float32 step.
    dtype: Literal["float32", "float64"] = "float64"

    @field_validator("windows", "band_windows", "cci_periods", "oscillator_periods")
    @classmethod
    def _windows(cls, v):
        return _positive_sorted(v, 2)

    @field_validator("stat_windows")
    @classmethod
    def _stat_windows(cls, v):
        return _positive_sorted(v, 4)  # the kurtosis estimator needs at least 4 values

    @field_validator("return_horizons", "rsi_periods", "roc_periods", "atr_periods", "hurst_lags")
    @classmethod
    def _periods(cls, v):
        return _positive_sorted(v, 1)

    @field_validator("macd")
    @classmethod
    def _macd(cls, v):
        for fast, slow, sig in v:
            if not (1 <= fast < slow) or sig < 1:
                raise ValueError("each MACD entry is (fast, slow, signal) with 1 <= fast < slow and signal >= 1")
        return v

    @field_validator("ma_cross_pairs")
    @classmethod
    def _pairs(cls, v):
        for fast, slow in v:
            if not (2 <= fast < slow):
                raise ValueError("each pair is (fast, slow) with 2 <= fast < slow")
        return v

    @field_validator("higher_timeframes", "bar_freq", "session_length")
    @classmethod
    def _freqs(cls, v):
        for f in (v,) if isinstance(v, str) else v:
            try:
                td = pd.Timedelta(f)
            except (ValueError, TypeError):
                raise ValueError(f"not a fixed-length pandas frequency: {f!r}") from None
            if td <= pd.Timedelta(0):
                raise ValueError(f"frequency must be positive: {f!r}")
        return v

    @field_validator("session_open")
    @classmethod
    def _open(cls, v):
        clock_minutes(v)
        return v

    @field_validator("rth")
    @classmethod
    def _rth(cls, v):
        if clock_minutes(v[0]) >= clock_minutes(v[1]):
            raise ValueError("regular trading hours must start before they end")
        return v

    @field_validator("session_tz")
    @classmethod
    def _tz(cls, v):
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except Exception:  # noqa: BLE001 - any failure means an unknown zone
            raise ValueError(f"unknown time zone: {v!r}") from None
        return v

    @model_validator(mode="after")
    def _htf_coarser(self):
        bar = pd.Timedelta(self.bar_freq)
        for f in self.higher_timeframes:
            if pd.Timedelta(f) <= bar:
                raise ValueError(f"higher time frame {f!r} must be longer than bar_freq {self.bar_freq!r}")
        if max(self.hurst_lags) >= max(self.windows):
            raise ValueError("hurst_lags must be shorter than the largest window")
        if pd.Timedelta(self.session_length) > pd.Timedelta("24h"):
            raise ValueError(f"session_length {self.session_length!r} is longer than a day")
        return self

    def bars_in(self, span: str) -> int:
        """Most input bars a span of clock time can hold (bars are at least ``bar_freq`` apart)."""
        return math.ceil(pd.Timedelta(span) / pd.Timedelta(self.bar_freq))

    @property
    def session_bars(self) -> int:
        """Most bars of one session: what session-anchored features read at most."""
        return self.bars_in(self.session_length)
