"""Performance numbers of a P&L series: annualisation, Sortino, the daily bootstrap interval, per-regime tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.evaluation import performance as perf


def test_bars_per_year_counts_elapsed_time():
    ts = pd.date_range("2024-01-01", periods=366, freq="1D", tz="UTC")  # 365 days elapsed in a leap year
    assert perf.bars_per_year(ts) == pytest.approx(365 / (365 / 365.25))
    assert np.isnan(perf.bars_per_year(ts[:1]))


def test_sharpe_interval_covers_the_truth_and_narrows_with_more_days():
    rng = np.random.default_rng(0)
    days = pd.date_range("2020-01-01", periods=2000, freq="1D", tz="UTC")
    pnl = rng.normal(0.1, 1.0, len(days))  # one bar a day: daily Sharpe 0.1, annualised 0.1 * sqrt(365.25)
    true = 0.1 * np.sqrt(365.25)
    low, high = perf.sharpe_confidence_interval(pnl, days)
    assert low < true < high
    short_low, short_high = perf.sharpe_confidence_interval(pnl[:200], days[:200])
    assert short_high - short_low > 2 * (high - low)
    assert np.isnan(perf.sharpe_confidence_interval(pnl[:4], days[:4])[0])  # fewer than 5 days


def test_sharpe_interval_sums_bars_into_days():
    """Intraday bars of one day count as one observation: 100 bars a day of the same daily P&L give the daily
    series' interval, not a hundred times more confidence."""
    rng = np.random.default_rng(1)
    daily = rng.normal(0.05, 1.0, 300)
    days = pd.date_range("2021-01-01", periods=300, freq="1D", tz="UTC")
    bars = np.repeat(daily / 100, 100)
    stamps = pd.DatetimeIndex(np.concatenate([d + pd.to_timedelta(np.arange(100), "min") for d in days]))
    np.testing.assert_allclose(perf.sharpe_confidence_interval(bars, stamps),
                               perf.sharpe_confidence_interval(daily, days), rtol=1e-9)


def test_sortino_profit_factor_and_drawdown_by_hand():
    pnl = np.array([2.0, -1.0, 3.0, -2.0, 1.0])
    rate = 4.0
    assert perf.sortino(pnl, rate) == pytest.approx(pnl.mean() / np.sqrt((1 + 4) / 5) * 2)
    assert perf.profit_factor([5.0, -2.0, 1.0, -4.0]) == pytest.approx(1.0)
    assert perf.profit_factor([]) != perf.profit_factor([])  # NaN without trades
    assert perf.max_drawdown(pnl) == 2.0  # peak 4 after bar 3, trough 2 after bar 4


def test_per_regime_splits_bars_and_drops_undefined():
    pnl = np.array([1.0, -1.0, 2.0, 0.5, 3.0, -0.5])
    pos = np.array([1, 0, 1, 1, 0, 1])
    regime = np.array([-1, 0, 0, 1, 1, 0])
    table = perf.per_regime(pnl, pos, regime, rate=1.0, names={0: "calm", 1: "wild"}).set_index("regime")
    assert list(table.index) == ["calm", "wild"]  # -1 (warm-up) is left out
    assert table.loc["calm", "net_pnl_usd"] == 0.5 and table.loc["wild", "net_pnl_usd"] == 3.5
    assert table.loc["calm", "n_bars"] == 3 and table.loc["calm", "exposure"] == pytest.approx(2 / 3)
    assert table.loc["calm", "net_sharpe"] == pytest.approx(perf.sharpe(pnl[[1, 2, 5]], 1.0))


def test_per_regime_trades_belong_to_their_signal_bars_regime():
    pnl = np.array([1.0, -1.0, 2.0, -3.0, 3.0, -0.5])
    pos = np.array([1, 1, 1, 0, 1, 1])
    regime = np.array([0, 0, 1, 1, 0, 1])
    # Three trades: signalled at bar 0 (calm, +2), bar 2 (wild, -1) and bar 4 (calm, +0.5).
    table = perf.per_regime(pnl, pos, regime, rate=1.0, names={0: "calm", 1: "wild"},
                            trade_rows=[0, 2, 4], trade_net=[2.0, -1.0, 0.5]).set_index("regime")
    assert table.loc["calm", "n_trades"] == 2 and table.loc["wild", "n_trades"] == 1
    assert table.loc["calm", "win_rate"] == 1.0 and table.loc["wild", "win_rate"] == 0.0
    assert table.loc["wild", "profit_factor"] == 0.0 and table.loc["calm", "profit_factor"] == np.inf
    # Drawdown of the regime's bars strung together: wild is +2, -3, -0.5 -> peak 2, trough -1.5.
    assert table.loc["wild", "max_drawdown_usd"] == pytest.approx(3.5)
    assert table.loc["calm", "max_drawdown_usd"] == pytest.approx(1.0)
    assert table.loc["calm", "sortino"] == pytest.approx(perf.sortino(pnl[[0, 1, 4]], 1.0))
    without = perf.per_regime(pnl, pos, regime, rate=1.0)
    assert without["n_trades"].isna().all() and without["win_rate"].isna().all()
    with pytest.raises(ValueError, match="trade_rows"):
        perf.per_regime(pnl, pos, regime, rate=1.0, trade_rows=[6], trade_net=[1.0])
