"""Barrier tuning: training rows only, deterministic for a seed, and sensitive to the rows it may see."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.contracts import get_contract
from factory.errors import ConfigError
from factory.labels import LabelConfig, TunedBarriers, TuningConfig, barrier_score, tune_barriers, tune_on_split
from factory.labels import tuning as tuning_mod

from label_synth import random_walk_bars

CFG = LabelConfig(tuning=TuningConfig(n_trials=15, seed=0, horizon_range=(5, 40)))
MES = get_contract("MES").cost_model()
N, TRAIN_END = 6000, 4000


@pytest.fixture(scope="module")
def bars():
    return random_walk_bars(N, seed=11)


def _replace_after(bars: pd.DataFrame, start: int, seed: int = 3, drift: float = 0.6) -> pd.DataFrame:
    """Rows >= start become a different, trending, more volatile path continuing from the same level."""
    other = random_walk_bars(len(bars), seed=seed, sigma=2.5)
    out = bars.copy()
    cols = ["open", "high", "low", "close"]
    trend = drift * np.arange(len(bars) - start)[:, None]
    shift = bars["close"].iat[start - 1] - other["close"].iat[start - 1]
    out.loc[start:, cols] = other.loc[start:, cols].to_numpy() + shift + trend
    return out


@pytest.fixture(scope="module")
def tuned(bars):
    return tune_on_split(bars, TRAIN_END, CFG, MES)


def test_result_is_sane(tuned):
    assert isinstance(tuned, TunedBarriers)
    assert 0.5 <= tuned.k_up <= 4.0 and 0.5 <= tuned.k_down <= 4.0 and 5 <= tuned.horizon <= 40
    assert 0 < tuned.score <= 1 and tuned.n_trials == 15
    assert round(tuned.k_up / 0.05, 6).is_integer()
    applied = tuned.apply(CFG)
    assert (applied.k_up, applied.k_down, applied.horizon) == (tuned.k_up, tuned.k_down, tuned.horizon)
    assert tuned.to_dict()["horizon"] == tuned.horizon


def test_deterministic_for_a_seed(bars, tuned):
    assert tune_on_split(bars, TRAIN_END, CFG, MES) == tuned


def test_changing_validation_and_test_rows_changes_nothing(bars, tuned):
    later = _replace_after(bars, TRAIN_END)
    assert not np.allclose(later["close"].iloc[TRAIN_END:], bars["close"].iloc[TRAIN_END:])
    assert tune_on_split(later, TRAIN_END, CFG, MES) == tuned  # parameters AND score identical


def test_teeth_a_tuner_that_saw_past_train_end_would_change(bars):
    """If labels near train_end could look 40 bars past it, the same future change would alter the result."""
    later = _replace_after(bars, TRAIN_END)
    leaky = tune_barriers(bars.iloc[:TRAIN_END + 40].reset_index(drop=True), CFG, MES)
    leaky_later = tune_barriers(later.iloc[:TRAIN_END + 40].reset_index(drop=True), CFG, MES)
    assert leaky != leaky_later


def test_labels_never_cross_train_end(bars, monkeypatch):
    seen = []
    real = tuning_mod.triple_barrier_labels

    def spy(b, k_up, k_down, horizon, **kw):
        out = real(b, k_up, k_down, horizon, **kw)
        valid = out["label"].notna().to_numpy()
        seen.append((len(b), int(np.flatnonzero(valid).max()) + horizon, int(out["t1"].max())))
        return out

    monkeypatch.setattr(tuning_mod, "triple_barrier_labels", spy)
    tune_on_split(bars, TRAIN_END, CFG, MES)
    assert len(seen) == CFG.tuning.n_trials
    for n_rows, last_horizon_end, last_t1 in seen:
        assert n_rows == TRAIN_END
        assert last_horizon_end <= TRAIN_END - 1 and last_t1 <= TRAIN_END - 1


def test_changing_training_rows_changes_the_choice(bars, tuned):
    """Teeth for the train-only test: the tuner does react to the rows it is allowed to see."""
    changed = _replace_after(bars, 1500).iloc[:TRAIN_END]
    changed = pd.concat([changed, bars.iloc[TRAIN_END:]], ignore_index=True)
    other = tune_on_split(changed, TRAIN_END, CFG, MES)
    assert (other.k_up, other.k_down, other.horizon) != (tuned.k_up, tuned.k_down, tuned.horizon)


def test_atr_override_is_sliced(bars, tuned):
    from factory.features.indicators import atr

    a = atr(bars["high"].to_numpy(), bars["low"].to_numpy(), bars["close"].to_numpy(), CFG.atr_window)
    assert tune_on_split(bars, TRAIN_END, CFG, MES, atr=a) == tuned
    with pytest.raises(ConfigError):
        tune_barriers(bars.iloc[:100], CFG, MES, atr=a)
    with pytest.raises(ConfigError):
        tune_on_split(bars, 0, CFG, MES)


def test_barrier_score_formula():
    lab = pd.DataFrame({"label": [-1.0, 0.0, 1.0] * 20 + [np.nan], "cost_in_atr": [0.5] * 61})
    # balanced classes: H = 1; every hit keeps k / (k + c) = 1.5 / 2 = 0.75 of its barrier distance
    assert barrier_score(lab, 1.5, 1.5) == pytest.approx(0.75)
    one_sided = pd.DataFrame({"label": [1.0] * 60, "cost_in_atr": [0.5] * 60})
    assert barrier_score(one_sided, 1.5, 1.5) == 0.0  # a single class has zero entropy
    few = pd.DataFrame({"label": [-1.0, 0.0, 1.0], "cost_in_atr": [0.5] * 3})
    assert barrier_score(few, 1.5, 1.5) == 0.0
    none_hit = pd.DataFrame({"label": [0.0] * 60, "cost_in_atr": [0.5] * 60})
    assert barrier_score(none_hit, 1.5, 1.5) == 0.0


def test_fixed_ranges_and_config_validation(bars):
    fixed = LabelConfig(tuning=TuningConfig(n_trials=3, k_up_range=(1.5, 1.5), k_down_range=(1.0, 1.0),
                                            horizon_range=(20, 20)))
    res = tune_on_split(bars, TRAIN_END, fixed, MES)
    assert (res.k_up, res.k_down, res.horizon, res.n_trials) == (1.5, 1.0, 20, 3)
    with pytest.raises(ConfigError):
        LabelConfig.from_dict({"tuning": {"horizon_range": [30, 10]}})
    with pytest.raises(ConfigError):
        LabelConfig.from_dict({"tuning": {"k_down_range": [0.0, 1.0]}})
