"""Settings of the causal feature set and the fitted FeaturePipeline."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from factory._config_base import StrictConfig


class FeatureConfig(StrictConfig):
    # Look-back windows (in bars) used by most families; the warm-up is derived from the largest.
    windows: tuple[int, ...] = (5, 10, 20, 60, 120, 240)
    # Higher time frames built causally from completed higher bars only (pandas offset aliases).
    higher_timeframes: tuple[str, ...] = ("15min", "60min")
    fracdiff_d: float = Field(0.4, gt=0, lt=1)
    fracdiff_threshold: float = Field(1e-4, gt=0)
    # Scaling fitted on training rows only: "robust" (median / IQR) or "standard" (mean / std).
    scaling: Literal["robust", "standard", "none"] = "robust"
    clip: float = Field(10.0, gt=0)
    dtype: Literal["float32", "float64"] = "float32"
