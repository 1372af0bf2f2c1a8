"""The embedded default data set: synthetic MES 1-minute bars, so the pipeline runs without any download."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

DEFAULT_N_BARS = 100_000
DEFAULT_SEED = 7
DEFAULT_CONTRACT = "MES"


@lru_cache(maxsize=1)
def _cached() -> pd.DataFrame:
    from factory.data.synth import generate_bars

    return generate_bars(DEFAULT_N_BARS, seed=DEFAULT_SEED, contract=DEFAULT_CONTRACT)


def default_bars() -> pd.DataFrame:
    """``DEFAULT_N_BARS`` bars from ``generate_bars(seed=DEFAULT_SEED)``; generated once per process.

    Each call returns a fresh copy, so a caller modifying it cannot change what the next caller gets.
    """
    return _cached().copy()
