"""The triple barriers of one label definition, as price levels and as log-return widths at every bar.

One function, :func:`barrier_levels`, turns an ATR and a cost into the upper and lower barrier prices; the
labels (:func:`factory.labels.triple_barrier.triple_barrier_labels`) and the models that price the barriers
directly (the foundation forecasters, which turn a forecast return distribution into class probabilities) both
call it, so a model reads exactly the barriers its labels were built with. :class:`BarrierDefinition` holds
what a label definition fixes (``k_up``, ``k_down``, the horizon, the ATR window and the round-trip cost in
price points, zero when the labels exclude costs); the model bundle saves it as JSON and recomputes the widths
from the request's bars at serving time with the same code the training run used.

Widths are log returns from the close at t: ``up_t = ln(U_t / C_t)`` and ``down_t = ln(C_t / L_t)`` with the
levels placed around ``C_t`` (the labels enter at the next bar's open, which is not known at t; the close is
its estimate, so a width is the labels' barrier distance ``(k + c) ATR_t`` as a return from ``C_t``) (``inf``
when the lower barrier is at or below zero), NaN during the ATR's warm-up. They depend on bars
``t - lookback .. t`` only (the ATR's bounded memory).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd


def barrier_levels(close: np.ndarray, atr_pts: np.ndarray, k_up: float, k_down: float,
                   round_trip_points: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(cost_in_atr, upper, lower)`` at every bar: ``U = C + (k_up + c) ATR``, ``L = C - (k_down + c) ATR``
    with ``c = round_trip_points / ATR`` (NaN where the ATR is missing or not positive)."""
    close = np.asarray(close, dtype=np.float64)
    atr_pts = np.asarray(atr_pts, dtype=np.float64)
    ok = np.isfinite(atr_pts) & (atr_pts > 0)
    cost = np.full(close.shape[0], np.nan)
    cost[ok] = round_trip_points / atr_pts[ok]
    upper = close + (k_up + cost) * atr_pts
    lower = close - (k_down + cost) * atr_pts
    return cost, upper, lower


def log_widths(close: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ln(U / C), ln(C / L))``; the lower width is ``inf`` where ``L <= 0`` (a short can never reach it)."""
    close = np.asarray(close, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.log(upper / close)
        down = np.where(lower > 0, np.log(close / np.where(lower > 0, lower, 1.0)), np.inf)
    down = np.where(np.isnan(lower), np.nan, down)
    return up, down


@dataclass(frozen=True)
class BarrierWidths:
    """Per-bar barrier widths (log returns from the close at the bar) and the label horizon in bars."""

    up: np.ndarray
    down: np.ndarray
    horizon: int

    def at(self, rows: Any) -> tuple[np.ndarray, np.ndarray]:
        rows = np.asarray(rows, dtype=np.int64)
        return self.up[rows], self.down[rows]


@dataclass(frozen=True)
class BarrierDefinition:
    """What a label definition fixes about its barriers (see the module docstring)."""

    k_up: float
    k_down: float
    horizon: int
    atr_window: int
    round_trip_points: float = 0.0

    @property
    def lookback(self) -> int:
        """Bars before t that the barriers at t read (the bounded-memory Wilder ATR's)."""
        from factory.features.indicators import wilder_window

        return wilder_window(self.atr_window)

    def atr(self, bars: pd.DataFrame) -> np.ndarray:
        from factory.features.indicators import atr as wilder_atr

        if len(bars) == 0:
            return np.empty(0)
        return wilder_atr(bars["high"].to_numpy(np.float64), bars["low"].to_numpy(np.float64),
                          bars["close"].to_numpy(np.float64), self.atr_window)

    def levels(self, bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return barrier_levels(bars["close"].to_numpy(np.float64), self.atr(bars), self.k_up, self.k_down,
                              self.round_trip_points)

    def offsets(self, bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``((k_up + c) ATR_t, (k_down + c) ATR_t)`` in price points: the barriers' distances from the entry of
        a position signalled at bar t (NaN during the ATR's warm-up); the backtest places them around its fill."""
        cost, upper, lower = self.levels(bars)
        close = bars["close"].to_numpy(np.float64)
        return upper - close, close - lower

    def widths(self, bars: pd.DataFrame) -> BarrierWidths:
        """The barrier widths at every bar of ``bars`` (see :func:`log_widths`)."""
        _, upper, lower = self.levels(bars)
        up, down = log_widths(bars["close"].to_numpy(np.float64), upper, lower)
        return BarrierWidths(up, down, int(self.horizon))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BarrierDefinition":
        return cls(k_up=float(d["k_up"]), k_down=float(d["k_down"]), horizon=int(d["horizon"]),
                   atr_window=int(d["atr_window"]), round_trip_points=float(d.get("round_trip_points", 0.0)))
