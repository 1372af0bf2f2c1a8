"""Tiny synthetic data for model tests: a few hundred rows, some signal, overlapping label spans."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_toy_data(
    n: int = 600, n_features: int = 12, seed: int = 0, *, as_frame: bool = False, noise: float = 1.0
) -> tuple[np.ndarray | pd.DataFrame, np.ndarray]:
    """Features ``X`` (n, n_features) and labels ``y`` in {-1, 0, 1} driven by the first three features.

    ``noise`` scales the logit noise; the classes come out roughly balanced.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    score = 1.5 * X[:, 0] - 1.0 * X[:, 1] + 0.5 * X[:, 2] * X[:, 0] + noise * rng.logistic(size=n)
    y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])) - 1
    if as_frame:
        return pd.DataFrame(X, columns=[f"feat_{i}" for i in range(n_features)]), y.astype(np.int64)
    return X, y.astype(np.int64)


def make_spans(n: int, horizon: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Label spans of ``n`` samples, one per bar: ``t0 = i`` and ``t1 = i + h_i`` with ``1 <= h_i <= horizon``."""
    rng = np.random.default_rng(seed)
    t0 = np.arange(n, dtype=np.int64)
    return t0, t0 + rng.integers(1, horizon + 1, size=n)
