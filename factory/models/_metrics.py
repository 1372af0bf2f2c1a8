"""Proper scoring rules on (n, 3) probabilities and class indices, used to weight and compare models."""

from __future__ import annotations

import numpy as np

EPS = 1e-15


def log_loss(y_idx: np.ndarray, proba: np.ndarray, w: np.ndarray | None = None) -> float:
    """Mean negative log probability of the true class (probabilities floored at 1e-15)."""
    p = np.clip(proba[np.arange(len(y_idx)), y_idx], EPS, 1.0)
    return float(np.average(-np.log(p), weights=w))


def brier(y_idx: np.ndarray, proba: np.ndarray, w: np.ndarray | None = None) -> float:
    """Multiclass Brier score: mean squared distance between the probabilities and the one-hot truth."""
    onehot = np.eye(proba.shape[1])[y_idx]
    return float(np.average(((proba - onehot) ** 2).sum(axis=1), weights=w))
