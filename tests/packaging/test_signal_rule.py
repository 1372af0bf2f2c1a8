"""The served signal rule on hand-checked cases (the backtest rules: tests/evaluation/test_backtest_rules.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.contracts import CostModel
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
