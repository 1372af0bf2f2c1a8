"""Calibration: improves a miscalibrated model's Brier / log loss, keeps valid probabilities, JSON round-trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from factory.errors import ConfigError
from factory.models import create_model
from factory.models._metrics import brier, log_loss
from factory.models.calibration import ProbabilityCalibrator, calibrate_on_validation
from factory.models.errors import NotFittedError
from factory.models.testing import make_toy_data


def _overconfident(n, seed):
    """True class probabilities ``p`` and the labels drawn from them; the model reports sharpened ``p``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 3)) * 1.2
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y_idx = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    sharp = p**3 / (p**3).sum(axis=1, keepdims=True)
    return sharp, y_idx - 1


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibration_improves_a_miscalibrated_model(method):
    p_val, y_val = _overconfident(3000, 0)
    p_test, y_test = _overconfident(3000, 1)
    cal = ProbabilityCalibrator(method).fit(p_val, y_val)
    for p, y in ((p_val, y_val), (p_test, y_test)):
        out = cal.transform(p)
        assert out.shape == p.shape and np.isfinite(out).all()
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)
        assert brier(y + 1, out) < brier(y + 1, p)
        assert log_loss(y + 1, out) < log_loss(y + 1, p) - 0.05


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_json_round_trip_is_exact(method, tmp_path):
    p, y = _overconfident(500, 2)
    cal = ProbabilityCalibrator(method).fit(p, y)
    cal.save(tmp_path)
    data = json.loads((tmp_path / "calibration.json").read_text())
    assert data["method"] == method and len(data["classes"]) == 3
    np.testing.assert_array_equal(ProbabilityCalibrator.load(tmp_path).transform(p), cal.transform(p))


def test_isotonic_matches_sklearn_per_class_then_renormalised():
    from sklearn.isotonic import IsotonicRegression

    p, y = _overconfident(800, 3)
    cal = ProbabilityCalibrator("isotonic").fit(p, y)
    cols = [IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p[:, k], y == k - 1).predict(p[:, k])
            for k in range(3)]
    ref = np.clip(np.column_stack(cols), cal.floor, 1)
    np.testing.assert_allclose(cal.transform(p), ref / ref.sum(axis=1, keepdims=True), atol=1e-12)


def test_absent_validation_class_and_bad_settings():
    p, y = _overconfident(400, 4)
    y = np.where(y == 0, 1, y)  # no "flat" in validation
    out = ProbabilityCalibrator("sigmoid").fit(p, y).transform(p)
    assert np.isfinite(out).all() and (out[:, 1] < 1e-5).all()
    with pytest.raises(ConfigError):
        ProbabilityCalibrator("beta")
    with pytest.raises(NotFittedError):
        ProbabilityCalibrator().transform(p)


def test_calibrate_a_fitted_model_on_validation():
    X, y = make_toy_data(500, 5)
    Xv, yv = make_toy_data(300, 5, seed=1)
    model = create_model("logistic", C=100.0).fit(X, y)
    cal = calibrate_on_validation(model, Xv, yv, "isotonic")
    assert brier(yv + 1, cal.transform(model.predict_proba(Xv))) <= brier(yv + 1, model.predict_proba(Xv))
