"""The causal, bounded-memory feature set: :func:`compute_features`, :func:`feature_names`, :func:`lookback_bars`.

The value of every feature at row t depends only on bars t - L .. t, L = :func:`lookback_bars` (each family
declares its own lookback; the tests perturb and truncate the future, and cut the past to exactly L bars, to
prove both for every column). Rows before L may hold NaN; from there on every feature is finite on valid bars
(positive prices, high >= max(open, close) >= min(open, close) >= low, volume >= 0, increasing timestamps)
and equal, up to rounding, to what any longer history gives at the same bar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.errors import DataValidationError, Issue
from factory.features import (
    bands,
    calendar,
    complexity,
    fracdiff,
    higher_tf,
    momentum,
    returns,
    trend,
    volatility,
    volume,
)
from factory.features._context import BarContext
from factory.features.config import FeatureConfig

# Column order of the output: families in this order, each in its own documented order.
FAMILIES = (returns, volatility, momentum, trend, bands, volume, calendar, higher_tf, fracdiff, complexity)
REQUIRED_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


def _config(config) -> FeatureConfig:
    if config is None:
        return FeatureConfig()
    if isinstance(config, dict):
        return FeatureConfig.from_dict(config, where="features")
    return config


def feature_names(config: FeatureConfig | dict | None = None) -> list[str]:
    """Output column names of :func:`compute_features`, in order."""
    cfg = _config(config)
    out: list[str] = []
    for fam in FAMILIES:
        out += fam.names(cfg)
    return out


def feature_families(config: FeatureConfig | dict | None = None) -> dict[str, list[str]]:
    """Feature names grouped by family module (e.g. ``{"momentum": ["rsi_7", ...], ...}``)."""
    cfg = _config(config)
    return {fam.__name__.rsplit(".", 1)[-1]: fam.names(cfg) for fam in FAMILIES}


def family_lookbacks(config: FeatureConfig | dict | None = None) -> dict[str, int]:
    """Declared lookback of each family (``{"momentum": 354, ...}``)."""
    cfg = _config(config)
    return {fam.__name__.rsplit(".", 1)[-1]: int(fam.lookback(cfg)) for fam in FAMILIES}


def lookback_bars(config: FeatureConfig | dict | None = None) -> int:
    """Bars before t that the features at t read: every feature at t is a function of bars t - L .. t."""
    return max(family_lookbacks(config).values())


def warmup_bars(config: FeatureConfig | dict | None = None) -> int:
    """First row whose features are all defined: the lookback (rows before it may hold NaN)."""
    return lookback_bars(config)


def check_input(bars) -> None:
    """Raise :class:`DataValidationError` unless ``bars`` has the columns and types the features need."""
    if not isinstance(bars, pd.DataFrame):
        raise DataValidationError(
            [Issue("type", None, (), f"bars must be a pandas DataFrame, got {type(bars).__name__}")]
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in bars.columns]
    if missing:
        raise DataValidationError(
            [Issue("columns", None, (), f"bars lack required column(s) {missing}; need {list(REQUIRED_COLUMNS)}")]
        )
    ts = bars["timestamp"]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        raise DataValidationError(
            [Issue("dtype", "timestamp", (), f"must be timezone-aware datetime64 (UTC), got {ts.dtype}")]
        )
    bad = [c for c in REQUIRED_COLUMNS[1:] if not pd.api.types.is_numeric_dtype(bars[c].dtype)]
    if bad:
        raise DataValidationError([Issue("dtype", bad[0], (), f"must be numeric, got {bars[bad[0]].dtype}")])


def _context(bars: pd.DataFrame, cfg: FeatureConfig) -> BarContext:
    ts = pd.DatetimeIndex(bars["timestamp"]).tz_convert("UTC").as_unit("ns").asi8
    cols = [np.ascontiguousarray(bars[c].to_numpy(dtype=np.float64)) for c in REQUIRED_COLUMNS[1:]]
    return BarContext(np.ascontiguousarray(ts), *cols, config=cfg)


def compute_features(bars: pd.DataFrame, config: FeatureConfig | dict | None = None) -> pd.DataFrame:
    """All features of ``bars`` (columns :func:`feature_names`, same index, dtype ``config.dtype``).

    The output matrix is allocated once as (features x bars) and filled one feature at a time; the float64
    intermediates alive at any moment are the bar arrays, a few dozen shared series (ATR, moving
    averages, channel extremes) and the temporaries of one feature.
    """
    cfg = _config(config)
    check_input(bars)
    names = feature_names(cfg)
    n = len(bars)
    out = np.empty((len(names), n), dtype=np.dtype(cfg.dtype))
    if n:
        # Degenerate windows divide by zero on purpose (safe_div fills them): one warning filter for the whole
        # set, not one per division.
        with np.errstate(divide="ignore", invalid="ignore"):
            _fill(out, names, _context(bars, cfg))
    # A (features, bars) C-ordered array is exactly pandas' internal block layout: no copy is made.
    return pd.DataFrame(out.T, index=bars.index, columns=names, copy=False)


def _fill(out: np.ndarray, names: list[str], ctx: BarContext) -> None:
    index = {name: j for j, name in enumerate(names)}
    filled = np.zeros(len(names), dtype=bool)

    def put(name: str, values: np.ndarray) -> None:
        j = index[name]
        if filled[j]:
            raise RuntimeError(f"feature {name!r} computed twice")
        out[j] = values
        filled[j] = True

    for fam in FAMILIES:
        fam.compute(ctx, put)
    if not filled.all():
        raise RuntimeError(f"features not computed: {[nm for nm, f in zip(names, filled) if not f]}")
