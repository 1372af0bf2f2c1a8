"""Settings of the past-only HMM regimes and the simple volatility / trend regime labels."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from factory._config_base import StrictConfig


class RegimeConfig(StrictConfig):
    n_states: int = Field(4, ge=2, le=8)
    covariance_type: Literal["full", "diag"] = "diag"
    n_iter: int = Field(50, ge=1)
    tol: float = Field(1e-3, gt=0)
    seed: int = 0
    # The filter restarts from the stationary prior this many rows back for every row (bounded memory).
    filter_lag: int = Field(240, ge=1)
    # Cap on the rows used to fit (the most recent ones of the allowed past); keeps 1M-bar fits fast.
    max_fit_rows: int = Field(200_000, ge=100)
    # Window of the realised-volatility column of the HMM observations (see regimes.hmm.hmm_inputs).
    input_vol_window: int = Field(30, ge=2)
    # Windows of the simple volatility (terciles of realised vol) and trend (efficiency ratio) regimes.
    vol_window: int = Field(60, ge=2)
    trend_window: int = Field(120, ge=2)
