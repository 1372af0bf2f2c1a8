"""A model that runs but cannot learn is broken: every registered key must find a planted, visible edge.

Synthetic bars (:func:`factory.data.synth.plant_edge`) where about one bar in 20 is an event (volume x 8, a close
at the bar's high or low) followed by a drift of 48 ticks over 10 bars in the event's direction go through the
whole pipeline; each key is trained through ``fit_bundle`` on the training split and must, out of sample, call the
direction of the test split's event bars far more often than chance (one class in three). The null twin (the same
events announcing nothing) is the control: on it the same model calls far fewer of them (what it still calls comes
from the generator's own momentum after a bar that closes at its extreme), so a pass measures the planted drift.
"""

from __future__ import annotations

import numpy as np
import pytest

from factory.models import get_model_class, list_models

pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

N_BARS = 24_000
EVERY = 20
# The edge is 10 bars long: labels on the same horizon with barriers the drift clears (90 % of event bars are
# labelled in the event's direction) and noise does not (classes about balanced).
PIPELINE = {
    "features": {"higher_timeframes": ["15min"], "windows": [10, 20, 60], "band_windows": [20, 60],
                 "stat_windows": [20, 60], "atr_periods": [5, 14, 60], "return_horizons": [1, 2, 5, 10, 30, 60],
                 "macd": [[12, 26, 9]], "roc_periods": [20, 45], "cci_periods": [20], "oscillator_periods": [14],
                 "ma_cross_pairs": [[10, 60]], "fracdiff_threshold": 0.001, "session_length": "5h"},
    "regimes": {"n_states": 2, "n_iter": 10, "filter_lag": 60},
    "labels": {"k_up": 1.5, "k_down": 1.5, "horizon": 10, "tuning": {"enabled": False}},
    "split": {"embargo_bars": 400, "purge_bars": 25},
}
# Enough training to see a few hundred events; the architecture stays at its tiny test size.
DEEP = {"epochs": 20, "max_train_windows": None, "max_val_windows": 3000, "patience": 6, "lr": 3e-3}


def _dataset(move_ticks: int):
    from factory.config import load_pipeline_config
    from factory.data.synth import generate_bars, plant_edge
    from factory.dataset import build_dataset

    bars, events = plant_edge(generate_bars(N_BARS, seed=17), every=EVERY, horizon=10, move_ticks=move_ticks,
                              seed=3)
    return build_dataset(bars, load_pipeline_config(overrides=PIPELINE)), events


@pytest.fixture(scope="module")
def planted():
    return _dataset(48)


@pytest.fixture(scope="module")
def null():
    return _dataset(0)


def _settings(key: str) -> dict:
    cls = get_model_class(key)
    params = cls.get_test_params()
    if cls.input_kind == "window" and "epochs" in cls.Config.model_fields:
        params.update(DEEP)
    if "embargo_bars" in cls.Config.model_fields:
        # An inner purged CV (stacking) must embargo the pipeline's feature lookback, as the outer split does.
        params["embargo_bars"] = PIPELINE["split"]["embargo_bars"]
    return params


def _event_hit_rate(ds, events, key: str) -> tuple[float, int]:
    """Share of the test split's event bars whose most probable class is the event's direction."""
    from factory.fitting import evaluate_part, fit_bundle
    from factory.models import create_model

    bundle = fit_bundle(ds, create_model(key, **_settings(key)))
    ev = evaluate_part(ds, bundle, "test")
    b = ds.split.boundaries
    rows = events["row"].to_numpy()
    inside = (rows >= b.test_start) & (rows < b.end)
    pred = ev.outputs[["prob_down", "prob_flat", "prob_up"]].to_numpy().argmax(axis=1) - 1
    hit = pred[rows[inside] - b.test_start] == events["direction"].to_numpy()[inside]
    return float(hit.mean()), int(inside.sum())


@pytest.mark.parametrize("key", [k for k in list_models() if get_model_class(k).input_kind != "price_window"])
def test_every_model_learns_the_planted_edge(key, planted, null):
    rate, n_events = _event_hit_rate(*planted, key)
    assert n_events >= 40
    assert rate > 0.6, f"{key} calls {rate:.0%} of {n_events} test events (chance: 33%)"
    control, _ = _event_hit_rate(*null, key)
    assert rate - control > 0.15, f"{key} calls {control:.0%} of events that announce nothing, {rate:.0%} of real ones"
