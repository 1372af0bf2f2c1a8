"""Triple-barrier labels: hand-computed cases, costs, ambiguity, the vertical barrier, the end of data, causality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.contracts import CostModel, get_contract
from factory.errors import ConfigError
from factory.features.indicators import atr as wilder_atr
from factory.features.indicators import wilder_window
from factory.labels import LABEL_COLUMNS, LabelConfig, labels_from_config, triple_barrier_labels

from label_synth import bars_from_rows, random_walk_bars

# With ATR = 2.0 points and a 0.5-point round trip: c = 0.5 / 2 = 0.25, so for k_up = k_down = 1
#   U = C + (1 + 0.25) * 2 = C + 2.5        L = C - 2.5        (every number exact in binary)
ATR2 = 2.0
QUIET = (100.0, 100.5, 99.5, 100.0)


def labels(rows, horizon=3, cost=None, atr=ATR2, **kw):
    """The hand-computed cases below enter at bar t's close (``entry="close"``) unless they say otherwise."""
    bars = bars_from_rows(rows)
    a = np.full(len(bars), atr) if np.isscalar(atr) else np.asarray(atr, float)
    kw.setdefault("entry", "close")
    return triple_barrier_labels(bars, k_up=1.0, k_down=1.0, horizon=horizon, cost_model=cost, atr=a, **kw)


def test_next_open_entry_levels_and_returns(half_point_cost):
    # Bar 1 opens at 101: a signal at bar 0's close is entered there, so U = 101 + 2.5, L = 101 - 2.5.
    rows = [QUIET, (101.0, 101.5, 100.5, 101.0), (101.0, 103.5, 100.8, 103.0), (103.0, 103.2, 102.5, 103.0)]
    out = labels(rows, horizon=3, cost=half_point_cost, entry="next_open")
    assert out["upper"].iloc[0] == 103.5 and out["lower"].iloc[0] == 98.5
    assert out["label"].iloc[0] == 1.0 and out["t1"].iloc[0] == 2  # bar 2's high 103.5 touches U
    assert out["ret"].iloc[0] == pytest.approx(np.log(103.0 / 101.0))
    assert out["ret_t1"].iloc[0] == pytest.approx(np.log(103.0 / 101.0))
    # Entered at bar 0's close (100), the same bars touch U = 102.5 at bar 2 as well, but the levels differ.
    close = labels(rows, horizon=3, cost=half_point_cost)
    assert close["upper"].iloc[0] == 102.5 and close["ret"].iloc[0] == pytest.approx(np.log(103.0 / 100.0))


def test_next_open_entry_sees_a_gap_the_close_entry_misses(half_point_cost):
    # Bar 1 gaps up to 102.6 and drifts down to 100.2: from the close (100), U = 102.5 is touched at bar 1's
    # high, a +1; entered at the gap's open, U = 105.1 is never reached and L = 100.1 neither: a 0.
    rows = [QUIET, (102.6, 102.7, 100.2, 100.3), (100.3, 100.6, 100.2, 100.4), (100.4, 100.6, 100.2, 100.4)]
    assert labels(rows, horizon=3, cost=half_point_cost)["label"].iloc[0] == 1.0
    out = labels(rows, horizon=3, cost=half_point_cost, entry="next_open")
    assert out["label"].iloc[0] == 0.0 and out["t1"].iloc[0] == 3


def test_entry_prices():
    from factory.labels import entry_prices

    bars = bars_from_rows([QUIET, (101.0, 101.5, 100.5, 101.2), (99.0, 99.5, 98.0, 98.5)])
    np.testing.assert_array_equal(entry_prices(bars, "next_open"), [101.0, 99.0, np.nan])
    np.testing.assert_array_equal(entry_prices(bars, "close"), [100.0, 101.2, 98.5])


def test_columns_and_exact_barrier_levels(half_point_cost):
    out = labels([QUIET] * 4, cost=half_point_cost)
    assert list(out.columns) == LABEL_COLUMNS
    assert out["t1"].dtype == np.int64 and out["label"].dtype == np.float64
    assert str(out["t1_time"].dtype) == "datetime64[ns, UTC]"
    assert out.loc[0, "cost_in_atr"] == 0.25
    assert out.loc[0, "upper"] == 102.5 and out.loc[0, "lower"] == 97.5
    # cost_in_atr is the shared CostModel's: round_trip_points / ATR
    assert out.loc[0, "cost_in_atr"] == half_point_cost.cost_in_atr(ATR2)


def test_docstring_example_cost_in_atr():
    """$7.50 round trip with an ATR of 10 MES points ($50) is 0.15 ATR; the barriers move out by 0.15 ATR."""
    cm = CostModel(tick_size=0.25, tick_value=1.25, commission_per_side=3.75, slippage_ticks=0.0)
    assert cm.round_trip_usd == 7.5
    out = labels([(5000, 5001, 4999, 5000)] * 3, horizon=1, cost=cm, atr=10.0)
    assert out.loc[0, "cost_in_atr"] == pytest.approx(0.15)
    assert out.loc[0, "upper"] == pytest.approx(5000 + (1 + 0.15) * 10)
    assert out.loc[0, "lower"] == pytest.approx(5000 - (1 + 0.15) * 10)
    mes = get_contract("MES").cost_model()  # 2 x $0.62 + 2 x 1 tick x $1.25 = $3.74 -> 0.748 points
    assert labels([QUIET] * 3, horizon=1, cost=mes).loc[0, "cost_in_atr"] == pytest.approx(0.748 / 2.0)


def test_upper_barrier_touched_first(half_point_cost):
    rows = [QUIET, (100, 101, 99.5, 100.5), (100.5, 102.5, 100, 102), (102, 102.5, 101.5, 102)]
    out = labels(rows, cost=half_point_cost)
    assert out.loc[0, "label"] == 1.0 and out.loc[0, "t1"] == 2  # bar 2's high equals U = 102.5 exactly
    assert out.loc[0, "t1_time"] == out.loc[0, "t1_time"].floor("min")
    assert out.loc[0, "t1_time"] == bars_from_rows(rows)["timestamp"][2]
    assert out.loc[0, "ret"] == pytest.approx(np.log(102 / 100))
    assert out.loc[0, "ret_t1"] == pytest.approx(np.log(102 / 100))


def test_costs_flip_a_win_into_a_zero(half_point_cost):
    """Gross move 2.2 clears k_up * ATR = 2.0 but not k_up * ATR + cost = 2.5."""
    rows = [QUIET, (100, 101, 99.5, 100.5), (100.5, 102.2, 100, 102), (102, 102.4, 101.5, 102)]
    with_cost = labels(rows, cost=half_point_cost)
    assert with_cost.loc[0, "label"] == 0.0 and with_cost.loc[0, "t1"] == 3  # vertical barrier
    gross = labels(rows, cost=None)
    assert gross.loc[0, "upper"] == 102.0
    assert gross.loc[0, "label"] == 1.0 and gross.loc[0, "t1"] == 2
    assert gross.loc[0, "cost_in_atr"] == 0.0


def test_lower_barrier_touched_first(half_point_cost):
    rows = [QUIET, (100, 100.5, 97.5, 98), QUIET, QUIET]
    out = labels(rows, cost=half_point_cost)
    assert out.loc[0, "label"] == -1.0 and out.loc[0, "t1"] == 1
    assert out.loc[0, "ret_t1"] == pytest.approx(np.log(98 / 100))
    assert out.loc[0, "ret"] == pytest.approx(0.0)


def test_first_touch_wins(half_point_cost):
    rows = [QUIET, (100, 102.5, 99.5, 102), (102, 102, 90, 91), QUIET]
    assert labels(rows, cost=half_point_cost).loc[0, "label"] == 1.0
    rows = [QUIET, (100, 100.5, 97.0, 98), (98, 110, 98, 109), QUIET]
    out = labels(rows, cost=half_point_cost)
    assert (out.loc[0, "label"], out.loc[0, "t1"]) == (-1.0, 1)


def test_bar_touching_both_barriers_is_ambiguous_zero(half_point_cost):
    rows = [QUIET, QUIET, (100, 103, 97, 101), QUIET]
    out = labels(rows, cost=half_point_cost)
    assert out.loc[0, "label"] == 0.0 and out.loc[0, "t1"] == 2  # stops at the ambiguous bar
    assert out.loc[0, "ret_t1"] == pytest.approx(np.log(101 / 100))


def test_vertical_barrier(half_point_cost):
    rows = [QUIET, (100, 102.4, 99.5, 101), (101, 101.5, 97.6, 99), (99, 100, 98.5, 99.5)]
    out = labels(rows, cost=half_point_cost)
    assert out.loc[0, "label"] == 0.0 and out.loc[0, "t1"] == 3
    assert out.loc[0, "ret_t1"] == out.loc[0, "ret"] == pytest.approx(np.log(99.5 / 100))


def test_end_of_data_rows_are_invalid(half_point_cost):
    out = labels([QUIET] * 6, horizon=3, cost=half_point_cost)
    assert out["label"].notna().tolist() == [True, True, True, False, False, False]
    assert out["t1"].tolist() == [3, 4, 5, -1, -1, -1]
    assert out["t1_time"].isna().tolist() == [False, False, False, True, True, True]
    assert out["ret"].isna().tolist() == [False, False, False, True, True, True]
    assert out["ret_t1"].isna().tolist() == [False, False, False, True, True, True]
    # a horizon longer than the data: nothing is valid
    assert labels([QUIET] * 3, horizon=3)["label"].isna().all()


def test_missing_or_zero_atr_rows_are_invalid(half_point_cost):
    out = labels([QUIET] * 6, horizon=2, cost=half_point_cost, atr=[np.nan, 0.0, 2.0, 2.0, 2.0, 2.0])
    assert out["label"].notna().tolist() == [False, False, True, True, False, False]
    assert out["t1"].tolist() == [-1, -1, 4, 5, -1, -1]
    assert out.loc[0, "ret"] == 0.0  # the horizon return exists even where the label does not


def test_close_path_ignores_intrabar_extremes(half_point_cost):
    rows = [QUIET, (100, 102.5, 99.5, 101), (101, 103, 100, 102.5), QUIET]
    hl = labels(rows, cost=half_point_cost, path="high_low")
    cl = labels(rows, cost=half_point_cost, path="close")
    assert (hl.loc[0, "label"], hl.loc[0, "t1"]) == (1.0, 1)
    assert (cl.loc[0, "label"], cl.loc[0, "t1"]) == (1.0, 2)  # first CLOSE at or above 102.5
    rows[2] = (101, 103, 100, 102)
    assert labels(rows, cost=half_point_cost, path="close").loc[0, "label"] == 0.0


def test_default_atr_is_wilder(walk):
    out = triple_barrier_labels(walk, 2.0, 2.0, 20)
    expect = wilder_atr(walk["high"].to_numpy(), walk["low"].to_numpy(), walk["close"].to_numpy(), 14)
    np.testing.assert_array_equal(out["atr"].to_numpy(), expect)
    first = wilder_window(14)  # the bounded ATR reads its window of true ranges and the close before
    assert out["label"].iloc[:first].isna().all() and out["label"].iloc[first:-20].notna().all()


def _reference(bars, k_up, k_down, horizon, atr, rtp, path, entry):
    """Straightforward per-row loop, for comparison with the compiled scan."""
    c = bars["close"].to_numpy()
    o = bars["open"].to_numpy()
    hi = bars["high"].to_numpy() if path == "high_low" else c
    lo = bars["low"].to_numpy() if path == "high_low" else c
    n = len(c)
    lab = np.full(n, np.nan)
    t1 = np.full(n, -1)
    for t in range(n):
        if t + horizon > n - 1 or not atr[t] > 0:
            continue
        cost = rtp / atr[t]
        e = o[t + 1] if entry == "next_open" else c[t]
        up, dn = e + (k_up + cost) * atr[t], e - (k_down + cost) * atr[t]
        lab[t], t1[t] = 0.0, t + horizon
        for j in range(t + 1, t + horizon + 1):
            if hi[j] >= up or lo[j] <= dn:
                lab[t] = 0.0 if (hi[j] >= up and lo[j] <= dn) else (1.0 if hi[j] >= up else -1.0)
                t1[t] = j
                break
    return lab, t1


@pytest.mark.parametrize("entry", ["next_open", "close"])
@pytest.mark.parametrize("path", ["high_low", "close"])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_reference_loop(path, seed, entry):
    bars = random_walk_bars(1500, seed=seed)
    mes = get_contract("MES").cost_model()
    out = triple_barrier_labels(bars, 1.5, 1.0, 25, cost_model=mes, path=path, entry=entry)
    lab, t1 = _reference(bars, 1.5, 1.0, 25, out["atr"].to_numpy(), mes.round_trip_points, path, entry)
    np.testing.assert_array_equal(out["label"].to_numpy(), lab)
    np.testing.assert_array_equal(out["t1"].to_numpy(), t1)
    assert set(np.unique(lab[~np.isnan(lab)])) == {-1.0, 0.0, 1.0}


@pytest.mark.parametrize("t", [20, 500, 2000])
def test_label_uses_only_rows_up_to_t_plus_horizon(walk, t):
    h = 30
    base = triple_barrier_labels(walk, 2.0, 1.5, h, cost_model=get_contract("MES").cost_model())
    pert = walk.copy()
    cols = ["open", "high", "low", "close"]
    pert.loc[t + h + 1:, cols] = pert.loc[t + h + 1:, cols].to_numpy()[::-1] * 1.01
    out = triple_barrier_labels(pert, 2.0, 1.5, h, cost_model=get_contract("MES").cost_model())
    pd.testing.assert_frame_equal(out.loc[:t], base.loc[:t])
    # teeth: the perturbation does change later labels
    assert not out["label"].iloc[t + h + 1:].equals(base["label"].iloc[t + h + 1:])


def test_t1_within_horizon(walk):
    h = 15
    out = triple_barrier_labels(walk, 1.0, 1.0, h, cost_model=get_contract("MES").cost_model())
    ok = out["label"].notna().to_numpy()
    t = np.arange(len(out))[ok]
    t1 = out["t1"].to_numpy()[ok]
    assert np.all(t1 > t) and np.all(t1 <= t + h)
    assert np.all(out["t1"].to_numpy()[~ok] == -1)


def test_labels_from_config(walk, half_point_cost):
    cfg = LabelConfig(k_up=1.5, k_down=2.0, horizon=10, atr_window=20, path="close")
    out = labels_from_config(walk, cfg, half_point_cost)
    pd.testing.assert_frame_equal(
        out, triple_barrier_labels(walk, 1.5, 2.0, 10, half_point_cost, atr_window=20, path="close"))
    closed = labels_from_config(walk, cfg.model_copy(update={"entry": "close"}), half_point_cost)
    assert not closed["upper"].equals(out["upper"])  # the entry setting reaches the labels
    no_cost = labels_from_config(walk, cfg.model_copy(update={"include_costs": False}), half_point_cost)
    assert (no_cost["cost_in_atr"].dropna() == 0).all()


def test_bad_arguments(walk):
    with pytest.raises(ConfigError):
        triple_barrier_labels(walk, 0.0, 1.0, 10)
    with pytest.raises(ConfigError):
        triple_barrier_labels(walk, 1.0, 1.0, 0)
    with pytest.raises(ConfigError):
        triple_barrier_labels(walk, 1.0, 1.0, 10, path="open")
    with pytest.raises(ConfigError, match="entry must be one of"):
        triple_barrier_labels(walk, 1.0, 1.0, 10, entry="open")
    with pytest.raises(ConfigError):
        triple_barrier_labels(walk, 1.0, 1.0, 10, atr=np.ones(5))
