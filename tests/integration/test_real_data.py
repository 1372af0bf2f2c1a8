"""Real public data (EURUSD hourly, GOOG daily from the `backtesting` package) through the whole pipeline."""

import numpy as np
import pytest

from factory.config import load_pipeline_config
from factory.dataset import build_dataset
from factory.data.loading import load_bars

from real_data_helpers import SHORT_SERIES_FEATURES, backtesting_csv, to_factory_csv


def _config(contract: str, bar_freq: str, htf: list[str], embargo: int):
    return load_pipeline_config(overrides={
        "contract": contract,
        # GOOG is an equity, not a futures contract: its labels are checked without a futures cost model.
        "labels": {"include_costs": contract != "NONE", "tuning": {"n_trials": 8, "horizon_range": [3, 20]}},
        "data": {"tz": "UTC", "session_calendar": False},
        "features": {**SHORT_SERIES_FEATURES, "bar_freq": bar_freq, "higher_timeframes": htf},
        "regimes": {"n_states": 3, "n_iter": 30, "filter_lag": 120},
        "split": {"purge_bars": 20, "embargo_bars": embargo},
    })


@pytest.mark.parametrize(
    "name, contract, bar_freq, htf, embargo",
    # EURUSD spot hourly stands in for Micro EUR/USD futures (M6E) and carries its costs.
    [("EURUSD.csv", "M6E", "1h", ["4h", "1D"], 400), ("GOOG.csv", "NONE", "1D", ["7D"], 250)],
)
def test_real_file_goes_through_the_whole_pipeline(tmp_path, name, contract, bar_freq, htf, embargo):
    path = to_factory_csv(backtesting_csv(name), tmp_path / name)
    cfg = _config(contract if contract != "NONE" else "MES", bar_freq, htf, embargo)
    loaded = load_bars(str(path), cfg)
    ds = build_dataset(loaded.bars, cfg)

    n = len(loaded.bars)
    assert ds.features.shape[0] == n and ds.features.shape[1] > 100
    rows = ds.sample_rows
    assert np.isfinite(ds.features.to_numpy()[rows]).all()
    lab = ds.labels["label"].to_numpy()[rows]
    assert set(np.unique(lab)) <= {-1.0, 0.0, 1.0}
    # every class occurs in training: the tuned barriers are neither degenerate nor off the price scale
    assert len(np.unique(lab[ds.split.train])) == 3
    probs = ds.regimes[[c for c in ds.regimes.columns if c.startswith("hmm_p")]].to_numpy()[rows]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    # chronological order with the embargo gap between segments
    tr, va, te = ds.rows("train"), ds.rows("val"), ds.rows("test")
    assert tr.max() + embargo <= va.min() and va.max() + embargo <= te.min()
    # no training label reaches into the validation period
    assert ds.labels["t1"].to_numpy()[tr].max() < ds.split.boundaries.train_end - cfg.split.purge_bars
    w = ds.weights[ds.split.train]
    assert np.all((w > 0) & (w <= 1))


@pytest.mark.parametrize(
    "name, contract, bar_freq, htf, embargo",
    [("EURUSD.csv", "M6E", "1h", ["4h", "1D"], 400), ("GOOG.csv", "NONE", "1D", ["7D"], 250)],
)
def test_model_inputs_at_t_need_only_the_lookback_on_real_files(tmp_path, name, contract, bar_freq, htf, embargo):
    """On real hourly FX and daily equity bars, the model inputs (features and HMM probabilities) at bar t from
    bars[t - lookback .. t] alone equal the dataset's row t to 1e-9, at bars across the whole file (the first
    bars after weekends and holidays included). (That the declared lookbacks are exact, not just enough, is
    shown family by family on full sessions and buckets in tests/features/test_features_lookback.py.)"""
    from factory.packaging.model_inputs import compute_model_inputs

    path = to_factory_csv(backtesting_csv(name), tmp_path / name)
    cfg = _config(contract if contract != "NONE" else "MES", bar_freq, htf, embargo)
    ds = build_dataset(load_bars(str(path), cfg).bars, cfg)
    look = ds.input_lookback
    ts = ds.bars["timestamp"].astype("int64").to_numpy()
    after_gap = np.flatnonzero(np.diff(ts) > 1.5 * np.median(np.diff(ts))) + 1
    rows = sorted({int(r) for r in np.r_[after_gap[after_gap > look][:6], np.linspace(look, len(ds.bars) - 1, 8)]})
    assert len(rows) >= 10
    full = ds.features.to_numpy()
    for t in rows:
        cut = ds.bars.iloc[t - look: t + 1].reset_index(drop=True)
        got = compute_model_inputs(cut, ds.feature_pipeline, ds.hmm).to_numpy()[-1]
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, full[t], rtol=0, atol=1e-9, err_msg=f"{name} bar {t}")



@pytest.mark.slow
@pytest.mark.parametrize("key", ["tcn", "patchtst", "dlinear"])  # one deep model per family
def test_a_deep_model_of_each_family_trains_end_to_end_on_eurusd(tmp_path, monkeypatch, key):
    """The train job, start to registered version, on real hourly FX bars with a small deep model of each family
    (recurrent/convolutional, attention, state-space/MLP): evaluated, logged, registered, loadable, and its served
    answer for a request of min_bars bars equals the full history's."""
    import mlflow
    import yaml

    from factory.jobs.train import run_train
    from factory.models import get_model_class

    path = to_factory_csv(backtesting_csv("EURUSD.csv"), tmp_path / "EURUSD.csv")
    cfg = _config("M6E", "1h", ["4h", "1D"], 400).model_dump(mode="json")
    cfg["labels"]["tuning"]["n_trials"] = 4
    settings = {**get_model_class(key).get_test_params(), "epochs": 4}
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"pipeline": cfg, "model": settings}))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    try:
        res = run_train(key, data=str(path), config_file=str(config), progress=False, echo=lambda *a, **k: None)
        assert res.name == f"m6e-{key}" and np.isfinite(res.metrics["test_log_loss"])
        model = mlflow.pyfunc.load_model(res.model_uri)
        meta = model.metadata.metadata
        assert meta["input_kind"] == "window" and meta["family"] == get_model_class(key).family
        bars = load_bars(str(path), load_pipeline_config(overrides=cfg)).bars
        full = model.predict(bars.iloc[-(meta["min_bars"] + 50):].reset_index(drop=True))
        last = model.predict(bars.iloc[-meta["min_bars"]:].reset_index(drop=True), params={"last_only": True})
        np.testing.assert_allclose(last[["prob_down", "prob_flat", "prob_up"]].to_numpy(),
                                   full[["prob_down", "prob_flat", "prob_up"]].to_numpy()[-1:], atol=1e-9)
    finally:
        mlflow.set_tracking_uri(None)
