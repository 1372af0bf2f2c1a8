"""Simple regimes: volatility terciles fitted on training rows only, trend vs mean reversion; all causal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.errors import FactoryError
from factory.regimes import (
    TREND_REGIME_NAMES,
    VOLATILITY_REGIME_NAMES,
    VolatilityRegime,
    efficiency_ratio,
    hmm_state_names,
    realized_vol,
    trend_regime,
    volatility_regime,
)

from regime_synth import regime_bars

TRAIN_END = 3000


def _bars_from_close(close: np.ndarray) -> pd.DataFrame:
    n = close.size
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame({
        "timestamp": pd.date_range("2024-01-02", periods=n, freq="min", tz="UTC"),
        "open": open_, "high": np.maximum(open_, close) + 0.25, "low": np.minimum(open_, close) - 0.25,
        "close": close, "volume": np.ones(n),
    })


def test_realized_vol_formula():
    close = np.array([100.0, 101.0, 100.0, 102.0])
    r = np.log(close[1:] / close[:-1])
    rv = realized_vol(_bars_from_close(close), 2)
    assert np.isnan(rv[:2]).all()
    np.testing.assert_allclose(rv[2:], np.sqrt([(r[0] ** 2 + r[1] ** 2) / 2, (r[1] ** 2 + r[2] ** 2) / 2]))


def test_volatility_terciles_on_training_rows(switching):
    bars, states = switching
    vr = VolatilityRegime(60).fit(bars, TRAIN_END)
    lab = vr.transform(bars)
    assert lab.dtype == np.int8
    assert (lab[:60] == -1).all() and (lab[60:] >= 0).all()
    counts = np.bincount(lab[60:TRAIN_END], minlength=3)
    assert np.all(np.abs(counts / counts.sum() - 1 / 3) < 0.01)  # terciles of the training rows
    # The high-vol class sits mostly in the volatile hidden state.
    assert (states[lab == 2] == 1).mean() > 0.8
    np.testing.assert_array_equal(volatility_regime(bars, 60, TRAIN_END), lab)
    assert set(VOLATILITY_REGIME_NAMES) == {-1, 0, 1, 2}


def test_volatility_thresholds_use_training_rows_only(switching):
    bars, _ = switching
    vr = VolatilityRegime(60).fit(bars, TRAIN_END)
    other = bars.copy()
    other.loc[TRAIN_END:, ["open", "high", "low", "close"]] *= np.linspace(1, 1.5, len(bars) - TRAIN_END)[:, None]
    vr2 = VolatilityRegime(60).fit(other, TRAIN_END)
    assert vr2.thresholds_ == vr.thresholds_
    # teeth: a change inside the training rows moves the thresholds
    other.loc[TRAIN_END - 500:TRAIN_END - 1, ["open", "high", "low", "close"]] *= np.linspace(1, 1.2, 500)[:, None]
    assert VolatilityRegime(60).fit(other, TRAIN_END).thresholds_ != vr.thresholds_


@pytest.mark.parametrize("t", [100, 2999, 4500])
def test_simple_regimes_are_causal(switching, t):
    bars, _ = switching
    other, _ = regime_bars(len(bars), seed=7, vol=(5.0, 5.0))
    pert = bars.copy()
    pert.loc[t + 1:, ["open", "high", "low", "close"]] = other.loc[t + 1:, ["open", "high", "low", "close"]].to_numpy()
    vr = VolatilityRegime(60).fit(bars, TRAIN_END)
    np.testing.assert_array_equal(vr.transform(pert)[: t + 1], vr.transform(bars)[: t + 1])
    np.testing.assert_array_equal(trend_regime(pert, 120)[: t + 1], trend_regime(bars, 120)[: t + 1])
    assert not np.array_equal(trend_regime(pert, 120)[t + 1:], trend_regime(bars, 120)[t + 1:])


def test_efficiency_ratio_hand_example():
    close = np.array([10.0, 11.0, 10.0, 12.0, 13.0])
    er = efficiency_ratio(_bars_from_close(close), 2)
    # t=2: |10-10| / (1+1) = 0; t=3: |12-11| / (1+2) = 1/3; t=4: |13-10| / (2+1) = 1
    np.testing.assert_allclose(er, [np.nan, np.nan, 0.0, 1 / 3, 1.0])
    flat = efficiency_ratio(_bars_from_close(np.full(5, 10.0)), 2)
    np.testing.assert_array_equal(flat[2:], 0.0)


def test_trend_regime_separates_drift_from_mean_reversion():
    rng = np.random.default_rng(3)
    n = 5000
    trend = 5000 + np.cumsum(0.5 + rng.standard_normal(n))  # strong drift
    ou = np.empty(n)  # Ornstein-Uhlenbeck around 5000: mean-reverting
    ou[0] = 5000.0
    eps = rng.standard_normal(n)
    for i in range(1, n):  # test data only
        ou[i] = ou[i - 1] - 0.3 * (ou[i - 1] - 5000.0) + eps[i]
    t_lab = trend_regime(_bars_from_close(trend), 120)
    m_lab = trend_regime(_bars_from_close(ou), 120)
    assert (t_lab[:120] == -1).all()
    assert (t_lab[120:] == 1).mean() > 0.95
    assert (m_lab[120:] == 0).mean() > 0.95
    assert TREND_REGIME_NAMES[1] == "trending"


def test_names_and_errors(switching):
    names = hmm_state_names(3)
    assert names[0].endswith("calmest") and names[2].endswith("most_volatile") and names[-1] == "undefined"
    bars, _ = switching
    with pytest.raises(FactoryError):
        VolatilityRegime(60).transform(bars)
    with pytest.raises(FactoryError):
        VolatilityRegime(60).fit(bars, 10)
