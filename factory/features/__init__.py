"""Causal features of OHLCV bars and the scaling pipeline fitted on training rows only."""

from factory.features.compute import compute_features, feature_families, feature_names, warmup_bars
from factory.features.config import FeatureConfig
from factory.features.pipeline import FeaturePipeline, NotFittedError

__all__ = [
    "FeatureConfig",
    "FeaturePipeline",
    "NotFittedError",
    "compute_features",
    "feature_families",
    "feature_names",
    "warmup_bars",
]
