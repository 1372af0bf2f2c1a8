"""Market regimes known at bar close: a past-only Gaussian HMM and simple volatility / trend labels."""

from factory.regimes.config import RegimeConfig
from factory.regimes.hmm import (
    RegimeHMM,
    hmm_inputs,
    refit_points,
    regime_proba,
    stationary_distribution,
    walk_forward_proba,
)
from factory.regimes.simple import (
    TREND_REGIME_NAMES,
    VOLATILITY_REGIME_NAMES,
    VolatilityRegime,
    efficiency_ratio,
    hmm_state_names,
    realized_vol,
    trend_regime,
    volatility_regime,
)

__all__ = [
    "RegimeConfig",
    "RegimeHMM",
    "hmm_inputs",
    "refit_points",
    "regime_proba",
    "stationary_distribution",
    "walk_forward_proba",
    "TREND_REGIME_NAMES",
    "VOLATILITY_REGIME_NAMES",
    "VolatilityRegime",
    "efficiency_ratio",
    "hmm_state_names",
    "realized_vol",
    "trend_regime",
    "volatility_regime",
]
