"""Settings of the triple-barrier labels and their Optuna tuning."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from factory._config_base import StrictConfig


class TuningConfig(StrictConfig):
    enabled: bool = True
    n_trials: int = Field(30, ge=1)
    seed: int = 0
    k_up_range: tuple[float, float] = (0.5, 4.0)
    k_down_range: tuple[float, float] = (0.5, 4.0)
    horizon_range: tuple[int, int] = (5, 60)

    @model_validator(mode="after")
    def _ranges_ordered(self):
        for name in ("k_up_range", "k_down_range", "horizon_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must satisfy 0 < low <= high, got ({lo}, {hi})")
        return self


class LabelConfig(StrictConfig):
    k_up: float = Field(2.0, gt=0)
    k_down: float = Field(2.0, gt=0)
    horizon: int = Field(30, ge=1)
    atr_window: int = Field(14, ge=1)
    # "high_low": barriers are touched by bar highs/lows (a bar touching both is labelled 0, conservatively);
    # "close": only closes count (the textbook variant, used to compare with other implementations).
    path: Literal["high_low", "close"] = "high_low"
    # Where a position signalled at bar t is entered: the next bar's open (what the backtest fills by default) or
    # bar t's close (the textbook labels; compare with `backtest.fill: close`).
    entry: Literal["next_open", "close"] = "next_open"
    include_costs: bool = True
    tuning: TuningConfig = TuningConfig()
