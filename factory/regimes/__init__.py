"""Market regimes known at bar close: a past-only Gaussian HMM and simple volatility / trend labels."""

from factory.regimes.config import RegimeConfig
from factory.regimes.hmm import (
    RegimeHMM,
    hmm_inputs,
    stationary_distribution,
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
    "stationary_distribution",
    "TREND_REGIME_NAMES",
    "VOLATILITY_REGIME_NAMES",
    "VolatilityRegime",
    "efficiency_ratio",
    "hmm_state_names",
    "realized_vol",
    "trend_regime",
    "volatility_regime",
]
