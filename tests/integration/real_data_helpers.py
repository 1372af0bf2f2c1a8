"""Helpers for real-data integration tests: public OHLCV files and a feature config for short series."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest


def backtesting_csv(name: str) -> Path:
    """A CSV shipped by the `backtesting` package (a dev dependency); never copied into this repository."""
    backtesting = pytest.importorskip("backtesting")
    path = Path(backtesting.__file__).resolve().parent / "test" / name
    if not path.is_file():
        pytest.skip(f"backtesting does not ship {name}")
    return path


def to_factory_csv(src: Path, dst: Path) -> Path:
    """The files keep timestamps in an unnamed index column and capitalised names; ours need `timestamp`."""
    df = pd.read_csv(src)
    df = df.rename(columns={df.columns[0]: "timestamp"})
    df.columns = [c.lower() for c in df.columns]
    df.to_csv(dst, index=False)
    return dst


# Small windows for short series (a few thousand bars); the default set is sized for 1-minute futures bars.
SHORT_SERIES_FEATURES = {
    "return_horizons": [1, 2, 3, 5, 10, 20],
    "windows": [5, 10, 20, 60],
    "band_windows": [10, 20, 40],
    "stat_windows": [20, 60],
    "rsi_periods": [7, 14],
    "macd": [[12, 26, 9]],
    "roc_periods": [5, 20],
    "oscillator_periods": [14],
    "cci_periods": [20],
    "atr_periods": [5, 14, 30],
    "ma_cross_pairs": [[5, 20], [10, 60]],
    "hurst_lags": [2, 8],
    "htf_window": 10,
    "htf_period": 7,
    "fracdiff_threshold": 1e-3,
}
