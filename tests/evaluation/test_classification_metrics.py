"""Classification metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from factory.evaluation.metrics import classification_metrics, expected_calibration_error


def test_ece_by_hand():
    y = np.array([1, 1, -1, 0])
    p = np.array([[0.1, 0.2, 0.7],    # conf 0.7, right   -> bin (0.6, 0.7]
                  [0.05, 0.1, 0.85],  # conf 0.85, right  -> bin (0.8, 0.9]
                  [0.15, 0.7, 0.15],  # conf 0.7, wrong   -> bin (0.6, 0.7]
                  [0.45, 0.35, 0.2]])  # conf 0.45, wrong -> bin (0.4, 0.5]
    # bin 0.7: |1 - 1.4| = 0.4; bin 0.85: |1 - 0.85| = 0.15; bin 0.45: |0 - 0.45| = 0.45 -> 1.0 / 4
    assert expected_calibration_error(y, p) == pytest.approx(0.25)


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident():
    rng = np.random.default_rng(0)
    n = 20000
    conf = rng.uniform(0.4, 1.0, n)
    p = np.column_stack([(1 - conf) / 2, (1 - conf) / 2, conf])
    right = rng.random(n) < conf
    y = np.where(right, 1, rng.choice([-1, 0], n))
    assert expected_calibration_error(y, p) < 0.02
    sure = np.column_stack([np.full(n, 0.0), np.full(n, 0.01), np.full(n, 0.99)])
    assert expected_calibration_error(y, sure) == pytest.approx(0.99 - right.mean(), abs=1e-9)


def test_classification_metrics_include_ece_and_handle_no_samples():
    y = np.array([1, 0, -1, 1])
    p = np.array([[0.2, 0.2, 0.6], [0.3, 0.4, 0.3], [0.5, 0.3, 0.2], [0.1, 0.3, 0.6]])
    m = classification_metrics(y, p)
    assert m["accuracy"] == 1.0 and m["ece"] == pytest.approx(expected_calibration_error(y, p))
    assert all(np.isnan(v) for v in classification_metrics([], np.empty((0, 3))).values())
