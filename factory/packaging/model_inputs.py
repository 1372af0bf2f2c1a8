"""The model inputs of a stretch of bars: scaled causal features plus fixed-lag HMM regime probabilities.

One function, used both to build the training dataset's matrix and by the served pyfunc, so the numbers a
model was trained on and the numbers it sees in production come from the same code path. Both parts have
bounded memory, so the row at bar t is a function of bars t - :func:`input_lookback` .. t only: a request that
holds exactly ``input_lookback + 1`` bars gets, at its last bar, the row training computed at that bar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HMM_PREFIX = "hmm_p"


def hmm_vol_window(hmm) -> int:
    """Window of the realised-volatility column of the HMM observations, from the fitted HMM's settings."""
    from factory.regimes import RegimeConfig

    return int((hmm.config or RegimeConfig()).input_vol_window)


def input_lookback(feature_pipeline, hmm) -> int:
    """Bars before t that the inputs at t read: the larger of the features' and the HMM's lookback."""
    return max(int(feature_pipeline.lookback_), int(hmm.lookback))


def compute_model_inputs(bars: pd.DataFrame, feature_pipeline, hmm, rows=None) -> pd.DataFrame:
    """Features of ``bars`` (fitted ``FeaturePipeline``) with ``hmm_p0..hmm_p{k-1}`` appended.

    One row per bar, or per entry of ``rows`` (bar positions; the frame keeps them as its index): serving asks
    for the predicted rows only, which spares the fixed-lag filter the rest. ``bars`` must already be valid
    (tz-aware UTC ``timestamp``, numeric OHLCV, oldest first). Rows before :func:`input_lookback` hold NaN. The
    probabilities take the features' dtype.
    """
    from factory.regimes import hmm_inputs

    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
    features = feature_pipeline.transform(bars, rows)
    probs = hmm.filter_proba(hmm_inputs(bars, vol_window=hmm_vol_window(hmm)), rows)
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
