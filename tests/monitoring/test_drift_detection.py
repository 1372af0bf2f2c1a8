"""The pinned drift check on a real model's inputs: volatility tripled plus a new volume regime is detected, fresh
bars from the same generator (other seeds) are not.

The model is a small LightGBM bundle trained on 12k synthetic bars; each window is 5000 consecutive bars' model
inputs computed by the model's own pipeline (``compute_model_inputs``), the default window of the daemon. The
fast tests check one window each way; the slow one measures the false-alarm rate over 20 in-distribution windows.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packaging"))
from packaging_setup import SMALL_CONFIG  # noqa: E402

WINDOW = 5000


@pytest.fixture(scope="module")
def model():
    """(bundle, reference sample): LightGBM with the packaging tests' small settings, 2000 reference rows."""
    from factory.data.synth import generate_bars
    from factory.dataset import build_dataset
    from factory.models import create_model
    from factory.packaging.reference import reference_sample
    from factory.fitting import fit_bundle
    from factory.train_config import load_train_config

    cfg = load_train_config("lightgbm", str(SMALL_CONFIG))
    dataset = build_dataset(generate_bars(12_000, seed=11), cfg.pipeline)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = fit_bundle(dataset, create_model("lightgbm", **cfg.model.model_dump(mode="json")), training=cfg.training)
    return bundle, reference_sample(dataset.features, dataset.bars["timestamp"], dataset.rows("train"), 2000)


def shifted(bars: pd.DataFrame, vol: float = 3.0, seed: int = 0) -> pd.DataFrame:
    """Volatility x ``vol`` (every log move from the first close scaled), volume x4 shuffled across bars."""
    out = bars.copy()
    c0 = float(bars["close"].iloc[0])
    for col in ("open", "high", "low", "close"):
        out[col] = c0 * np.exp(vol * np.log(bars[col] / c0))
    # A new volume regime: four times the contracts, no intraday profile, no link with price moves.
    out["volume"] = np.random.default_rng(seed).permutation(bars["volume"].to_numpy()) * 4.0
    return out


def window_inputs(bundle, seed: int, shift: bool = False) -> pd.DataFrame:
    from factory.data.synth import generate_bars

    bars = generate_bars(bundle.warmup_bars + WINDOW, seed=seed)
    if shift:
        bars = shifted(bars, seed=seed)
    return bundle.model_inputs(bars).iloc[bundle.warmup_bars:].reset_index(drop=True)


def _check(model, seed, shift):
    from monitoring.config import load_monitor_config
    from monitoring.drift import check_drift

    bundle, reference = model
    return check_drift(reference, window_inputs(bundle, seed, shift), bundle.input_names, load_monitor_config().drift)


def test_volatility_tripled_and_new_volume_regime_is_drift(model):
    result = _check(model, 300, shift=True)
    assert result.drift and result.drift_share > 0.15
    assert any(c.startswith(("vol_", "atr_norm")) for c in result.drifted_columns)
    # Evidently's own count agrees with the share the daemon reports.
    count = result.snapshot.dict()["metrics"][0]["value"]["count"]
    assert count == len(result.drifted_columns)


def test_fresh_bars_from_the_same_generator_are_not_drift(model):
    result = _check(model, 300, shift=False)
    assert not result.drift and result.drift_share <= 0.15
    assert result.n_columns == len(model[0].input_names) - 7  # calendar columns left out by default


def _share(model, seed, shift) -> float:
    """The drift share :func:`check_drift` reports, from the same per-column scores without the Evidently report
    (``tests/monitoring/test_drift_calibration.py::test_column_scores_are_evidentlys`` shows them equal)."""
    from monitoring.config import load_monitor_config
    from monitoring.drift import column_scores, compared_columns, drifted

    bundle, reference = model
    settings = load_monitor_config().drift
    window = window_inputs(bundle, seed, shift)
    columns, _ = compared_columns(bundle.input_names, window, reference, settings.exclude_columns)
    return len(drifted(column_scores(reference, window, columns, settings), settings)) / len(columns)


@pytest.mark.slow
def test_share_without_the_report_is_the_checks_share(model):
    assert _share(model, 301, shift=False) == pytest.approx(_check(model, 301, shift=False).drift_share)


@pytest.mark.slow
def test_false_alarm_rate_over_20_windows_is_at_most_one(model):
    in_dist = [_share(model, seed, shift=False) for seed in range(300, 320)]
    drifted = [_share(model, seed, shift=True) for seed in range(300, 305)]
    print(f"\nin-distribution drift shares: {np.round(sorted(in_dist), 3).tolist()}"
          f"\nshifted drift shares: {np.round(sorted(drifted), 3).tolist()}")
    assert sum(s > 0.15 for s in in_dist) <= 1
    assert all(s > 0.15 for s in drifted)
