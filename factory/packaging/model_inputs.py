"""The model inputs of a stretch of bars: scaled causal features plus filtered HMM regime probabilities.

One function, used both to build the training dataset's matrix and by the served pyfunc, so the numbers a
model was trained on and the numbers it sees in production come from the same code path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HMM_PREFIX = "hmm_p"


def hmm_vol_window(hmm) -> int:
    """Window of the realised-volatility column of the HMM observations, from the fitted HMM's settings."""
    from factory.regimes import RegimeConfig

    return int((hmm.config or RegimeConfig()).input_vol_window)


def hmm_warmup(hmm) -> int:
    """First row whose HMM observations are all defined (the return needs one bar, the volatility a window)."""
    return hmm_vol_window(hmm)


def input_warmup(feature_pipeline, hmm) -> int:
    """First row at which every model input is defined: the later of the feature and HMM warm-ups."""
    return max(int(feature_pipeline.warmup_), hmm_warmup(hmm))


def compute_model_inputs(bars: pd.DataFrame, feature_pipeline, hmm) -> pd.DataFrame:
    """Features of ``bars`` (fitted ``FeaturePipeline``) with ``hmm_p0..hmm_p{k-1}`` appended, one row per bar.

    ``bars`` must already be valid (tz-aware UTC ``timestamp``, numeric OHLCV, oldest first). Row t depends on
    bars <= t only; rows before :func:`input_warmup` hold NaN. The probabilities take the features' dtype.
    """
    from factory.regimes import hmm_inputs

    features = feature_pipeline.transform(bars)
    probs = hmm.filter_proba(hmm_inputs(bars, vol_window=hmm_vol_window(hmm)))
    regimes = pd.DataFrame(probs, columns=[f"{HMM_PREFIX}{k}" for k in range(probs.shape[1])],
                           index=features.index)
    return pd.concat([features, regimes.astype(features.dtypes.iloc[0])], axis=1)


def first_bad_input(inputs: pd.DataFrame, rows: np.ndarray) -> tuple[int, str] | None:
    """``(row, column)`` of the first non-finite input among ``rows``, or ``None`` when all are finite."""
    values = inputs.to_numpy()[rows]
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    r, c = np.argwhere(bad)[0]
    return int(rows[r]), str(inputs.columns[c])
