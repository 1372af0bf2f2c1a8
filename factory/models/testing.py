"""Tiny synthetic data for model tests: a few hundred rows, some signal, overlapping label spans."""

from __future__ import annotations

from pathlib import Path

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


def make_toy_windows(n: int = 600, length: int = 8, n_channels: int = 6, seed: int = 0):
    """``(WindowView over a (n + length - 1, F) matrix, y)``: labels driven by the mean of channel 0 over each
    window and the last value of channel 1, so a model must read the whole window to do well."""
    from factory.models.views import WindowView

    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(n + length - 1, n_channels))
    rows = np.arange(length - 1, n + length - 1)
    view = WindowView(matrix, rows, length, [f"ch_{i}" for i in range(n_channels)])
    w = view.batch()
    score = 2.0 * w[:, :, 0].mean(axis=1) * np.sqrt(length) - 1.0 * w[:, -1, 1] + 0.5 * rng.logistic(size=n)
    y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])) - 1
    return view, y.astype(np.int64)


def make_toy_contexts(n: int = 600, length: int = 16, seed: int = 0):
    """``(PriceContextView over a random-walk close, y)``: labels follow the sign of the last few log returns.

    The contexts carry barrier widths of 2 per mille both ways over a horizon of 5 bars (for models that
    price the barriers; the others ignore them)."""
    from factory.labels.barriers import BarrierWidths
    from factory.models.views import PriceContextView

    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-3, n + length - 1)))
    rows = np.arange(length - 1, n + length - 1)
    widths = BarrierWidths(np.full(len(close), 2e-3), np.full(len(close), 2e-3), 5)
    view = PriceContextView(close, rows, length, barriers=widths)
    lp = view.batch()
    score = -lp[:, -4] * 1e3 + 0.3 * rng.logistic(size=n)  # the move over the last 3 bars
    y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])) - 1
    return view, y.astype(np.int64)


def config_with_test_params(config: Path, key: str, folder: Path) -> Path:
    """``config`` (a ``-P config`` YAML) for training ``key`` in a test run: unchanged, except that a pretrained
    (zero-shot) model gets its test settings (tiny random weights built offline) in a copy written to ``folder``."""
    import yaml

    from factory.models.registry import get_model_class

    cls = get_model_class(key)
    if not cls.zero_shot:
        return config
    cfg = yaml.safe_load(Path(config).read_text()) or {}
    cfg.setdefault("models", {})[key] = cls.get_test_params()
    path = Path(folder) / f"{Path(config).stem}_{key}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
