"""Checks shared by the two foundation models' test files (a uniquely named module: every test folder has one)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from factory.labels.barriers import BarrierDefinition, BarrierWidths
from factory.models import create_model, get_model_class, load_model
from factory.models.foundation import distribution
from factory.models.foundation._base import WeightsNotFoundError
from factory.models.views import PriceContextView

LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def new(key: str, **over):
    return create_model(key, **{**get_model_class(key).get_test_params(), **over})


def contexts(n: int = 80, length: int = 32, seed: int = 0, horizon: int = 5):
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-3, n + length - 1)))
    widths = BarrierWidths(np.full(len(close), 2e-3), np.full(len(close), 3e-3), horizon)
    return PriceContextView(close, np.arange(length - 1, n + length - 1), length, barriers=widths)


def labels_for(n: int):
    return np.arange(n) % 3 - 1


def check_probabilities_from_a_known_forecast(key: str, monkeypatch):
    """Quantiles -0.04 .. 0.04 (levels 0.1 .. 0.9) make F uniform on [-0.05, 0.05]: by hand,
    up = 0.025 -> prob_up = 1 - (0.5 + 0.025 / 0.1) = 0.25; down = 0.035 -> prob_down = 0.5 - 0.35 = 0.15."""
    values = np.linspace(-0.04, 0.04, 9)
    view = contexts(4)
    n = len(view.close)
    view = PriceContextView(view.close, view.rows, view.length,
                            barriers=BarrierWidths(np.full(n, 0.025), np.full(n, 0.035), 7))
    model = new(key).fit(view, labels_for(len(view)))
    seen = []

    def fake(ctx, horizon):
        seen.append((ctx.shape, horizon))
        return LEVELS, np.tile(values, (len(ctx), 1))

    monkeypatch.setattr(model, "_forecast_batch", fake)
    proba = model.predict_proba(view)
    np.testing.assert_allclose(proba, np.tile([0.15, 0.60, 0.25], (4, 1)), atol=1e-12)
    assert seen == [((4, view.length), 7)]  # the label horizon reaches the forecaster
    np.testing.assert_allclose(distribution.expected_value(LEVELS, values[None]), [0.0], atol=1e-15)
    np.testing.assert_allclose(distribution.quantile(LEVELS, values[None], [0.05, 0.5, 0.95]),
                               [[-0.045, 0.0, 0.045]], atol=1e-15)


def check_barriers_are_the_labels(key: str):
    """The widths the model reads are the labels' own barrier distances (same ATR, k, costs) as log returns from
    the close at t: the labels enter at the next open, which is not known at t, so the close stands for it."""
    from factory.contracts import get_contract
    from factory.data.synth import generate_bars
    from factory.labels import entry_prices, triple_barrier_labels
    from factory.models.views import model_input

    bars = generate_bars(600, seed=3)
    cost = get_contract("MES").cost_model()
    lab = triple_barrier_labels(bars, 1.5, 2.5, 9, cost_model=cost, atr_window=14)
    definition = BarrierDefinition(1.5, 2.5, 9, 14, cost.round_trip_points)
    model = new(key)
    rows = np.arange(200, 599)  # the last bar has no next open, so no label barrier to compare with
    view = model_input(model, pd.DataFrame(index=range(600)), bars["close"].to_numpy(), rows,
                       barriers=definition.widths(bars))
    up, down = view.barriers_at()
    close = bars["close"].to_numpy()[rows]
    entry = entry_prices(bars)[rows]
    np.testing.assert_allclose(up, np.log((close + lab["upper"].to_numpy()[rows] - entry) / close), rtol=1e-12)
    np.testing.assert_allclose(down, np.log(close / (close - (entry - lab["lower"].to_numpy()[rows]))), rtol=1e-12)
    # With a close entry the labels' barriers are exactly the widths' levels.
    closed = triple_barrier_labels(bars, 1.5, 2.5, 9, cost_model=cost, atr_window=14, entry="close")
    np.testing.assert_array_equal(up, np.log(closed["upper"].to_numpy()[rows] / close))
    assert view.horizon == 9
    with pytest.raises(Exception, match="barrier"):
        model_input(model, pd.DataFrame(index=range(600)), bars["close"].to_numpy(), rows)


def check_missing_weights(key: str, tmp_path, monkeypatch):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(WeightsNotFoundError) as err:
        new(key, model_path=str(missing)).preflight()
    text = str(err.value)
    assert str(missing) in text and "looked at" in text and "hub id" in text and "local folder" in text
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(WeightsNotFoundError, match="does not hold"):
        new(key, model_path=str(empty)).preflight()
    with pytest.raises(WeightsNotFoundError, match="HF_HUB_OFFLINE") as err:
        new(key, model_path="nobody-here/no-such-model").preflight()
    assert get_model_class(key).default_id in str(err.value)
    with pytest.raises(WeightsNotFoundError):  # fit finds it too
        new(key, model_path=str(missing)).fit(contexts(), labels_for(80))

    # The train job stops before it reads data or starts a run: nothing is logged.
    import mlflow

    from factory.jobs.train import run_train

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"model: {{model_path: '{missing}'}}\n")
    with pytest.raises(WeightsNotFoundError, match="looked at"):
        run_train(key, config_file=str(cfg), progress=False, echo=lambda *a: None)
    assert mlflow.active_run() is None
    if (tmp_path / "mlflow.db").exists():
        mlflow.set_tracking_uri(uri)
        assert mlflow.search_runs(search_all_experiments=True).empty


def check_save_load_round_trip(key: str, tmp_path):
    view = contexts()
    model = new(key).fit(view, labels_for(len(view)))
    folder = model.save(tmp_path / "m")
    assert (folder / "weights").is_dir()
    loaded = load_model(folder)
    np.testing.assert_array_equal(loaded.predict_proba(view), model.predict_proba(view))
    # The copy in the folder is what loads: the original weights may go away.
    assert loaded.get_params()["model_path"] == model.get_params()["model_path"]
    np.testing.assert_array_equal(loaded.forecast_quantiles(view)[1], model.forecast_quantiles(view)[1])


def check_causality(key: str):
    """Outputs at context ends <= t do not change when every close after t is replaced."""
    view = contexts(120)
    model = new(key).fit(view, labels_for(len(view)))
    t = int(view.rows[70])
    close = view.close.copy()
    close[t + 1:] = close[t + 1:] * np.exp(np.random.default_rng(9).normal(0, 0.05, len(close) - t - 1))
    changed = PriceContextView(close, view.rows, view.length, barriers=view.barriers)
    keep = np.flatnonzero(view.rows <= t)
    a = model.predict_proba(view)
    b = model.predict_proba(changed)
    np.testing.assert_array_equal(a[keep], b[keep])
    assert not np.array_equal(a[keep[-1] + 1:], b[keep[-1] + 1:])


def check_batches_do_not_change_outputs(key: str):
    view = contexts(70)
    a = new(key, batch_size=16).fit(view, labels_for(70))
    full = a.predict_proba(view)
    np.testing.assert_array_equal(a.predict_proba(view.subset(np.arange(3, 9))), full[3:9])


def check_returns_come_from_the_forecast(key: str, monkeypatch):
    """expected_return and the return quantiles are the forecast distribution's own (one backbone pass)."""
    values = np.linspace(-0.04, 0.04, 9) + 0.01
    view = contexts(4)
    model = new(key).fit(view, labels_for(len(view)))
    monkeypatch.setattr(model, "_forecast_batch", lambda ctx, h: (LEVELS, np.tile(values, (len(ctx), 1))))
    proba, returns = model.predict_proba_and_returns(view, (0.05, 0.5, 0.95))
    np.testing.assert_array_equal(proba, model.predict_proba(view))
    np.testing.assert_allclose(returns, np.tile([0.01, -0.035, 0.01, 0.055], (4, 1)), atol=1e-15)
