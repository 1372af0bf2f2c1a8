"""The served signal rule and the backtest rules, on hand-checked cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.contracts import CostModel
from factory.evaluation.backtest import backtest
from factory.packaging.signal import signals

COST = CostModel(tick_size=0.25, tick_value=1.25, commission_per_side=0.5, slippage_ticks=1.0)  # 3.5 USD, 0.7 pt


def _ts(n):
    return pd.Series(pd.date_range("2024-01-02 15:00", periods=n, freq="1min", tz="UTC"))


def test_signal_rule():
    p = np.array([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.2, 0.5, 0.3],
                  [0.5, 0.3, 0.2]])
    close = np.full(6, 5000.0)  # cost as a log return: 0.7 / 5000 = 1.4e-4
    er = np.array([2e-4, 1e-4, -2e-4, -5e-4, 5e-4, 1e-3])
    np.testing.assert_array_equal(signals(p, er, close, COST.round_trip_points), [1, 0, -1, 0, 0, 0])


@pytest.mark.parametrize("signal, horizon, trades", [
    ([1, 0, 0, 0, 0, 0], 2, [(0, 2, 1)]),                    # held for the horizon
    ([1, 0, 1, 0, 0, 0, 0], 2, [(0, 4, 1)]),                 # same direction restarts the clock
    ([1, 0, 0, 1, 0, 0, 0], 2, [(0, 2, 1), (3, 5, 1)]),      # a signal after the exit opens a new trade
    ([1, 0, -1, 0, 0, 0], 3, [(0, 2, 1), (2, 5, -1)]),      # reversal; last trade closed at the window's end
    ([0, 0, -1, 0, 0, 1, 0, 0], 1, [(2, 3, -1), (5, 6, 1)]),
    ([0, 0, 0, 0], 2, []),
])
def test_trades_follow_the_rules(signal, horizon, trades):
    close = np.array([100.0, 101.0, 103.0, 102.0, 104.0, 103.5, 105.0, 106.0])[:len(signal)]
    res = backtest(close, signal, _ts(len(signal)), horizon, COST)
    got = list(zip(res.trades["entry_row"], res.trades["exit_row"], res.trades["side"]))
    assert got == trades
    pv = COST.point_value
    expect = [s * (close[b] - close[a]) * pv - COST.round_trip_usd for a, b, s in trades]
    np.testing.assert_allclose(res.trades["net_usd"].to_numpy(dtype=float), np.asarray(expect, dtype=float))
    # The bar-by-bar equity ends at the sum of the trades' net P&L.
    assert res.equity.iloc[-1] == pytest.approx(sum(expect))
    assert res.metrics["n_trades"] == len(trades)


def test_metrics_on_a_known_path():
    close = np.array([100.0, 102.0, 101.0, 99.0, 100.0, 103.0])
    res = backtest(close, [1, 0, 0, 0, 0, 0], _ts(6), 5, COST)
    pv = COST.point_value
    # Equity: -cost at entry, then +2, -1, -2, +1, +3 points.
    eq = np.cumsum(np.array([-COST.round_trip_usd, 2 * pv, -pv, -2 * pv, pv, 3 * pv]))
    np.testing.assert_allclose(res.equity.to_numpy(), eq)
    assert res.metrics["max_drawdown_usd"] == pytest.approx(np.max(np.maximum.accumulate(np.r_[0, eq])[1:] - eq))
    assert res.metrics["win_rate"] == 1.0 and res.metrics["n_trades"] == 1
    assert np.isfinite(res.metrics["net_sharpe"]) and 0 <= res.metrics["psr"] <= 1


def test_no_trades_gives_nan_ratios():
    res = backtest(np.linspace(100, 101, 10), np.zeros(10, int), _ts(10), 3, COST)
    assert res.metrics["n_trades"] == 0 and res.metrics["net_pnl_usd"] == 0
    assert np.isnan(res.metrics["win_rate"]) and np.isnan(res.metrics["net_sharpe"])
