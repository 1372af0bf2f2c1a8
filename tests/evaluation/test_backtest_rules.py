"""The backtester's rules and P&L arithmetic on hand-computed cases, and its agreement with the labels' entry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.contracts import CostModel, get_contract
from factory.errors import FactoryError
from factory.evaluation.backtest import backtest, position_sizes
from factory.evaluation.config import BacktestConfig

# 0.25-point ticks worth 1.25 USD: 5 USD per point; round trip 2 x 0.5 + 2 x 1 x 1.25 = 3.5 USD.
COST = CostModel(tick_size=0.25, tick_value=1.25, commission_per_side=0.5, slippage_ticks=1.0)
PV, RT = 5.0, 3.5
HORIZON_ONLY = BacktestConfig(exits="horizon")


def bars(rows, stamps=None):
    a = np.asarray(rows, dtype=np.float64)
    ts = stamps if stamps is not None else pd.date_range("2024-01-02 15:00", periods=len(a), freq="1min", tz="UTC")
    return pd.DataFrame({"timestamp": ts, "open": a[:, 0], "high": a[:, 1], "low": a[:, 2], "close": a[:, 3]})


ROWS = [(100.0, 100.5, 99.5, 100.0), (101.0, 102.0, 100.5, 101.5), (101.5, 103.0, 101.0, 102.5),
        (102.5, 103.0, 102.0, 102.0), (102.0, 102.5, 101.5, 102.0), (102.0, 102.2, 101.8, 102.0)]


def trades_of(res):
    return list(zip(res.trades["signal_row"], res.trades["entry_row"], res.trades["exit_row"], res.trades["side"],
                    res.trades["entry_price"], res.trades["exit_price"], res.trades["exit_reason"].astype(str)))


def test_next_open_fill_and_vertical_exit():
    res = backtest(bars(ROWS[:4]), [1, 0, 0, 0], 2, COST, config=HORIZON_ONLY)
    # Signalled at bar 0's close, filled at bar 1's open (101), out at bar 0 + 2's close (102.5).
    assert trades_of(res) == [(0, 1, 2, 1, 101.0, 102.5, "horizon")]
    assert res.trades["gross_usd"].iloc[0] == 1.5 * PV and res.trades["net_usd"].iloc[0] == 1.5 * PV - RT
    # Marked to market: the cost and 0.5 point on the fill bar, 1 point on bar 2.
    np.testing.assert_allclose(res.pnl, [0.0, -RT + 0.5 * PV, 1.0 * PV, 0.0])
    np.testing.assert_array_equal(res.position, [0, 1, 1, 0])  # held in bars 1 and 2
    assert res.metrics["net_pnl_usd"] == pytest.approx(1.5 * PV - RT)


def test_close_fill_is_the_optimistic_comparison():
    res = backtest(bars(ROWS[:4]), [1, 0, 0, 0], 2, COST, config=BacktestConfig(fill="close", exits="horizon"))
    assert trades_of(res) == [(0, 0, 2, 1, 100.0, 102.5, "horizon")]
    np.testing.assert_allclose(res.pnl, [-RT, 1.5 * PV, 1.0 * PV, 0.0])


def test_short_stopped_at_the_upper_barrier():
    up = dn = np.full(6, 1.5)  # filled at 101: stop 102.5, target 99.5
    res = backtest(bars(ROWS), [-1, 0, 0, 0, 0, 0], 5, COST, barriers=(up, dn))
    assert trades_of(res) == [(0, 1, 2, -1, 101.0, 102.5, "stop_loss")]  # bar 2's high 103 reaches 102.5
    assert res.trades["net_usd"].iloc[0] == pytest.approx(-1.5 * PV - RT)
    # Bar 1: short from 101 to the 101.5 close; bar 2: from 101.5 to the stop at 102.5.
    np.testing.assert_allclose(res.pnl[:3], [0.0, -RT - 0.5 * PV, -1.0 * PV])


def test_take_profit_and_a_gap_through_the_stop():
    up = dn = np.full(6, 1.0)
    # Long filled at 101 with target 102: bar 1's high reaches 102 on the fill bar itself.
    res = backtest(bars(ROWS), [1, 0, 0, 0, 0, 0], 5, COST, barriers=(up, dn))
    assert trades_of(res)[0] == (0, 1, 1, 1, 101.0, 102.0, "take_profit")
    # Bar 2 opens at 99, below the stop at 100: the gap is paid, the exit is the open, not the stop.
    gap = [ROWS[0], (101.0, 101.5, 100.5, 101.0), (99.0, 99.5, 98.5, 99.0), ROWS[3]]
    res = backtest(bars(gap), [1, 0, 0, 0], 3, COST, barriers=(up[:4], dn[:4]))
    assert trades_of(res) == [(0, 1, 2, 1, 101.0, 99.0, "stop_loss")]
    assert res.trades["net_usd"].iloc[0] == pytest.approx(-2.0 * PV - RT)


def test_a_bar_spanning_both_barriers_is_read_as_the_stop():
    rows = [ROWS[0], (101.0, 101.2, 100.8, 101.0), (101.0, 103.0, 99.0, 101.0), ROWS[3]]
    res = backtest(bars(rows), [1, 0, 0, 0], 3, COST, barriers=(np.full(4, 1.0), np.full(4, 1.0)))
    assert trades_of(res) == [(0, 1, 2, 1, 101.0, 100.0, "stop_loss")]


def test_overnight_halt_fills_at_the_first_bar_after_it():
    stamps = pd.DatetimeIndex(["2024-01-02 21:57", "2024-01-02 21:58", "2024-01-02 21:59", "2024-01-02 23:00",
                               "2024-01-02 23:01", "2024-01-02 23:02"], tz="UTC")
    rows = [ROWS[0], ROWS[0], ROWS[0], (104.0, 104.5, 103.5, 104.0), (104.0, 105.0, 104.0, 105.0), ROWS[5]]
    res = backtest(bars(rows, stamps), [0, 0, 1, 0, 0, 0], 2, COST, config=HORIZON_ONLY)
    t = res.trades.iloc[0]
    # The signal at the last bar before the halt is filled at the reopen's open (the gap is not earned).
    assert t["entry_time"] == stamps[3] and t["entry_price"] == 104.0 and t["exit_row"] == 4
    assert t["net_usd"] == pytest.approx(1.0 * PV - RT)


def test_reversal_renewal_and_the_window_end():
    res = backtest(bars(ROWS), [1, 0, -1, 0, 0, 0], 5, COST, config=HORIZON_ONLY)
    # The opposite signal at bar 2 closes the long and opens the short at bar 3's open; the short is closed
    # at the window's last close.
    assert trades_of(res) == [(0, 1, 3, 1, 101.0, 102.5, "reversal"), (2, 3, 5, -1, 102.5, 102.0, "end")]
    assert res.pnl.sum() == pytest.approx(res.trades["net_usd"].sum())
    # A signal in the same direction restarts the vertical clock from its own bar, at no cost.
    res = backtest(bars(ROWS), [1, 0, 1, 0, 0, 0], 2, COST, config=HORIZON_ONLY)
    assert trades_of(res) == [(0, 1, 4, 1, 101.0, 102.0, "horizon")]
    assert res.metrics["cost_usd"] == RT


def test_last_bar_signals_and_bars_without_barriers_are_not_traded():
    res = backtest(bars(ROWS), [0, 0, 0, 0, 0, 1], 2, COST, config=HORIZON_ONLY)
    assert len(res.trades) == 0 and res.metrics["net_pnl_usd"] == 0
    assert np.isnan(res.metrics["win_rate"]) and np.isnan(res.metrics["net_sharpe"])
    up = np.r_[np.nan, np.full(5, 1.0)]  # ATR warm-up at bar 0
    res = backtest(bars(ROWS), [1, 1, 0, 0, 0, 0], 5, COST, barriers=(up, up))
    assert res.trades["signal_row"].tolist() == [1]


def test_sizing_by_confidence_scales_pnl_and_costs():
    proba = np.array([[0.1, 0.1, 0.8], [0.3, 0.3, 0.4], [0.2, 0.6, 0.2]])
    config = BacktestConfig(sizing="confidence", max_contracts=4)
    # q = (0.8 - 1/3) / (2/3) = 0.7 -> ceil(2.8) = 3; (0.4 - 1/3) / (2/3) = 0.1 -> 1; no signal -> 1.
    np.testing.assert_array_equal(position_sizes(proba, np.array([1, 1, 0]), config), [3, 1, 1])
    np.testing.assert_array_equal(position_sizes(proba, np.array([1, 1, 0]), BacktestConfig(max_contracts=2)),
                                  [2, 2, 2])
    res = backtest(bars(ROWS[:4]), [1, 0, 0, 0], 2, COST, config=HORIZON_ONLY, size=np.full(4, 3.0))
    assert res.trades["contracts"].iloc[0] == 3
    assert res.trades["net_usd"].iloc[0] == pytest.approx(3 * (1.5 * PV - RT))
    assert res.metrics["turnover"] == 6.0  # 3 bought + 3 sold on one day


def test_metrics_on_a_known_path():
    rows = [(100.0, 100.0, 100.0, 100.0), (100.0, 102.5, 99.5, 102.0), (102.0, 102.0, 100.5, 101.0),
            (101.0, 101.0, 98.5, 99.0), (99.0, 100.5, 99.0, 100.0), (100.0, 103.0, 100.0, 103.0)]
    res = backtest(bars(rows), [1, 0, 0, 0, 0, 0], 5, COST, config=HORIZON_ONLY)
    pnl = np.array([0.0, -RT + 2 * PV, -PV, -2 * PV, PV, 3 * PV])
    np.testing.assert_allclose(res.pnl, pnl)
    eq = np.cumsum(pnl)
    assert res.metrics["max_drawdown_usd"] == pytest.approx(np.max(np.maximum.accumulate(np.r_[0, eq])[1:] - eq))
    assert res.metrics["win_rate"] == 1.0 and res.metrics["n_trades"] == 1
    assert res.metrics["profit_factor"] == np.inf and res.metrics["exposure"] == pytest.approx(5 / 6)
    rate = (len(pnl) - 1) / ((5 * 60) / (365.25 * 86400))
    assert res.metrics["net_sharpe"] == pytest.approx(pnl.mean() / pnl.std(ddof=1) * np.sqrt(rate))
    downside = np.sqrt(np.mean(np.minimum(pnl, 0) ** 2))
    assert res.metrics["sortino"] == pytest.approx(pnl.mean() / downside * np.sqrt(rate))
    assert 0 <= res.metrics["psr"] <= 1


def test_bad_inputs_are_named():
    with pytest.raises(FactoryError, match="3 signals for 4 bars"):
        backtest(bars(ROWS[:4]), [1, 0, 0], 2, COST, config=HORIZON_ONLY)
    with pytest.raises(FactoryError, match="-1, 0 or 1"):
        backtest(bars(ROWS[:4]), [2, 0, 0, 0], 2, COST, config=HORIZON_ONLY)
    with pytest.raises(FactoryError, match="barrier offsets"):
        backtest(bars(ROWS[:4]), [1, 0, 0, 0], 2, COST)


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_entries_and_barrier_exits_agree_with_the_labels(fill):
    """What a model learns is what is traded: a trade's entry is the labels' entry at its signal bar, and a
    barrier exit is at the labels' barrier level (unless the bar gapped through it)."""
    from factory.data.synth import generate_bars
    from factory.labels import triple_barrier_labels
    from factory.labels.barriers import BarrierDefinition

    walk = generate_bars(3000, seed=3)
    # Opens away from the previous close (the generator opens at it), so an entry at the wrong price shows.
    rng = np.random.default_rng(1)
    walk["open"] = walk["open"] + 0.25 * rng.integers(-3, 4, size=len(walk))
    walk["high"] = np.maximum(walk["high"], walk["open"])
    walk["low"] = np.minimum(walk["low"], walk["open"])
    mes = get_contract("MES").cost_model()
    labels = triple_barrier_labels(walk, 1.5, 1.0, 20, cost_model=mes, entry=fill)
    definition = BarrierDefinition(1.5, 1.0, 20, 14, mes.round_trip_points)
    signal = rng.choice([-1, 0, 1], size=len(walk), p=[0.02, 0.96, 0.02])
    res = backtest(walk, signal, 20, mes, barriers=definition.offsets(walk), config=BacktestConfig(fill=fill))
    tr = res.trades
    assert len(tr) > 50
    lab = labels.iloc[tr["signal_row"].to_numpy()]
    # upper - (k_up + c) ATR is the labels' entry price
    entry = lab["upper"].to_numpy() - (1.5 + lab["cost_in_atr"].to_numpy()) * lab["atr"].to_numpy()
    np.testing.assert_allclose(tr["entry_price"].to_numpy(), entry, rtol=0, atol=1e-9)
    opens = walk["open"].to_numpy()
    tp = (tr["exit_reason"] == "take_profit").to_numpy() & (tr["exit_price"].to_numpy()
                                                             != opens[tr["exit_row"].to_numpy()])
    level = np.where(tr["side"].to_numpy() > 0, lab["upper"].to_numpy(), lab["lower"].to_numpy())
    assert tp.sum() > 5
    np.testing.assert_allclose(tr["exit_price"].to_numpy()[tp], level[tp], atol=1e-9)
    # A long's take-profit is a +1 label's barrier; where no exit came earlier, the label agrees with it.
    first = tp & (tr["side"].to_numpy() > 0) & (tr["exit_row"].to_numpy() == lab["t1"].to_numpy())
    assert (lab["label"].to_numpy()[first] == 1).all()
    assert res.pnl.sum() == pytest.approx(tr["net_usd"].sum())
