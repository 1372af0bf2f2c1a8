"""Causal features of OHLCV bars and the scaling pipeline fitted on training rows only.

:func:`compute_features` returns about 190 scale-free features whose value at bar t depends on bars <= t
only - at most :func:`lookback_bars` of them (bounded memory) - in ten families (one module each): ``returns``, ``volatility``, ``momentum``, ``trend``, ``bands``,
``volume``, ``calendar``, ``higher_tf`` (completed higher-time-frame bars), ``fracdiff`` and ``complexity``.
Each module's docstring gives the formulas; :mod:`factory.features.rolling` holds the shared kernels and
:mod:`factory.features.indicators` the classic indicators (checked against TA-Lib in the tests).
:class:`FeaturePipeline` adds a robust or standard scaling learnt on training rows only.
"""

from factory.features.compute import (
    compute_features,
    family_lookbacks,
    feature_families,
    feature_names,
    lookback_bars,
    warmup_bars,
)
from factory.features.config import FeatureConfig
from factory.features.pipeline import FeaturePipeline, NotFittedError

__all__ = [
    "FeatureConfig",
    "FeaturePipeline",
    "NotFittedError",
    "compute_features",
    "family_lookbacks",
    "feature_families",
    "feature_names",
    "lookback_bars",
    "warmup_bars",
]
