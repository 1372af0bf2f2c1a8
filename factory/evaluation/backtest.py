"""A simple, honest backtest of the served signal, with the same cost model as the labels.

Rules (one contract, bar closes only):

* a signal is known at a bar's close and acts at that close (the cost model's slippage ticks stand for the
  fill being worse than that close);
* flat and a signal of +1 / -1: open long / short, to be closed ``horizon`` bars later (the label horizon);
* in a position and a signal in the same direction (even on the exit bar): keep it and restart the
  ``horizon``-bar clock (no cost);
* in a position and the opposite signal: close it and open the other side at that close (two trades);
* a signal of 0 changes nothing; an open position is closed at the window's last bar.

Every trade pays ``CostModel.round_trip_usd`` (charged at entry in the equity curve). Trade P&L in USD per
contract is ``side * (exit - entry) * point_value - round_trip_usd``.

Metrics: ``n_trades``; ``win_rate`` (share of trades with positive net P&L); ``net_pnl_usd``;
``max_drawdown_usd`` (largest peak-to-trough fall of the bar-by-bar marked-to-market equity, >= 0);
``net_sharpe`` (mean / std of the per-bar net P&L, annualised with the window's own bar rate
``sqrt((n_bars - 1) / elapsed years)``, so it works for any bar type); ``psr`` (probabilistic Sharpe ratio
against 0 of the per-bar series); ``exposure`` (share of bars in a position).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from factory.errors import FactoryError

SECONDS_PER_YEAR = 365.25 * 86400.0


@dataclass
class BacktestResult:
    trades: pd.DataFrame  # one row per trade: entry/exit row and time, side, prices, gross/cost/net USD
    pnl: np.ndarray  # net USD P&L per bar (marked to market)
    equity: pd.Series  # cumulative net P&L, indexed by timestamp
    metrics: dict[str, float]
    position: np.ndarray | None = None  # contracts held over each bar (signed)


def _trades(close: np.ndarray, signal: np.ndarray, horizon: int) -> list[tuple[int, int, int]]:
    """(entry row, exit row, side) of every trade under the module's rules."""
    out: list[tuple[int, int, int]] = []
    side, entry, exit_at = 0, -1, -1
    last = len(close) - 1
    for t in range(len(close)):
        s = int(signal[t])
        if side != 0 and s == side:
            exit_at = t + horizon  # checked before the exit, so a renewed signal never pays a round trip
        elif side != 0 and s == -side:
            out.append((entry, t, side))
            side, entry, exit_at = s, t, t + horizon
        elif side != 0 and t == exit_at:
            out.append((entry, t, side))
            side = 0
        elif side == 0 and s != 0:
            side, entry, exit_at = s, t, t + horizon
    if side != 0 and entry < last:
        out.append((entry, last, side))
    return out


def backtest(close, signal, timestamps, horizon: int, cost_model) -> BacktestResult:
    """Run the rules above over one contiguous window of bars; see the module docstring."""
    from factory.validation.stats import probabilistic_sharpe_ratio

    close = np.asarray(close, dtype=np.float64)
    signal = np.asarray(signal, dtype=np.int64)
    ts = pd.DatetimeIndex(pd.Series(timestamps).reset_index(drop=True))
    n = len(close)
    pv, cost = float(cost_model.point_value), float(cost_model.round_trip_usd)
    trades = _trades(close, signal, int(horizon))

    position = np.zeros(n)
    pnl = np.zeros(n)
    rows = []
    for entry, exit_, side in trades:
        position[entry + 1:exit_ + 1] += side  # held over bars entry+1 .. exit (P&L of bar t is C_t - C_{t-1})
        pnl[entry] -= cost
        gross = side * (close[exit_] - close[entry]) * pv
        rows.append((entry, exit_, ts[entry], ts[exit_], side, close[entry], close[exit_], gross, cost, gross - cost))
    if n > 1:
        pnl[1:] += position[1:] * np.diff(close) * pv
    table = pd.DataFrame(rows, columns=["entry_row", "exit_row", "entry_time", "exit_time", "side", "entry_price",
                                        "exit_price", "gross_usd", "cost_usd", "net_usd"])
    equity = pd.Series(np.cumsum(pnl), index=ts, name="equity_usd")
    return BacktestResult(trades=table, pnl=pnl, equity=equity,
                          metrics=_metrics(pnl, table, ts, position, probabilistic_sharpe_ratio), position=position)


def _metrics(pnl: np.ndarray, trades: pd.DataFrame, ts: pd.DatetimeIndex, position: np.ndarray, psr_fn) -> dict:
    n = len(pnl)
    eq = np.cumsum(pnl)
    drawdown = float(np.max(np.maximum.accumulate(np.concatenate([[0.0], eq]))[1:] - eq)) if n else 0.0
    out = {
        "n_trades": float(len(trades)),
        "win_rate": float((trades["net_usd"] > 0).mean()) if len(trades) else float("nan"),
        "net_pnl_usd": float(eq[-1]) if n else 0.0,
        "max_drawdown_usd": max(drawdown, 0.0),
        "exposure": float(np.mean(position != 0)) if n else 0.0,
        "net_sharpe": float("nan"),
        "psr": float("nan"),
    }
    std = float(np.std(pnl, ddof=1)) if n > 2 else 0.0
    if std > 0:
        per_bar = float(np.mean(pnl)) / std
        years = (ts[-1] - ts[0]).total_seconds() / SECONDS_PER_YEAR
        if years > 0:
            out["net_sharpe"] = per_bar * float(np.sqrt((n - 1) / years))
        z = (pnl - pnl.mean()) / std
        skew, kurt = float(np.mean(z**3)), float(np.mean(z**4))
        try:
            out["psr"] = psr_fn(per_bar, n, 0.0, skew, kurt)
        except FactoryError:  # undefined for some extreme skew / kurtosis: reported as NaN
            out["psr"] = float("nan")
    return out
