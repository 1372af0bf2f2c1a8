"""FeaturePipeline: causal features plus a scaling fitted on training rows only.

``fit(bars, train_end)`` computes the features of ``bars[:train_end]`` (later bars are never even looked at)
and learns per-feature centre and scale on the rows ``[lookback, train_end)``:

* ``robust``:   centre = median, scale = interquartile range (q75 - q25)
* ``standard``: centre = mean,   scale = standard deviation
* ``none``:     centre = 0,      scale = 1

A scale that is zero or not finite (a constant feature) becomes 1. ``transform`` returns
clip((x - centre) / scale, -clip, clip), NaN kept (warm-up rows).

The fitted state is plain data: ``save(dir)`` writes ``feature_pipeline.json`` (configuration, feature names,
lookback, versions) and ``feature_scaling.npz`` (centre and scale arrays, loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory import __version__
from factory.errors import FactoryError
from factory.features.compute import check_input, compute_features, feature_names, lookback_bars
from factory.features.config import FeatureConfig

# 2: bounded-memory features (every value a function of the last `lookback` bars); format-1 states hold
# the unbounded definitions and cannot be served as trained.
STATE_FORMAT = 2
JSON_NAME = "feature_pipeline.json"
NPZ_NAME = "feature_scaling.npz"


class NotFittedError(FactoryError, ValueError):
    """The pipeline was used before ``fit`` (also a ``ValueError``, like scikit-learn's)."""


class FeaturePipeline:
    """Causal features scaled with statistics of the training rows only (scikit-learn style)."""

    def __init__(self, config: FeatureConfig | dict | None = None):
        self.config = config

    # --- fitting -------------------------------------------------------------------------------------
    def _cfg(self) -> FeatureConfig:
        cfg = self.config
        if cfg is None:
            return FeatureConfig()
        if isinstance(cfg, dict):
            return FeatureConfig.from_dict(cfg, where="features")
        return cfg

    def lookback_bars(self) -> int:
        """Bars before t that the features at t read (available before fitting)."""
        return lookback_bars(self._cfg())

    def fit(
        self, bars: pd.DataFrame, train_end: int | pd.Timestamp | None = None, y: Any = None
    ) -> FeaturePipeline:
        """Learn the scaling on rows [lookback, train_end) (``train_end``: a row position or a timestamp,
        exclusive; None = all rows). Rows at or after ``train_end`` are discarded before any computation."""
        cfg = self._cfg()
        check_input(bars)
        end = _end_row(bars, train_end)
        warm = lookback_bars(cfg)
        if end <= warm:
            raise FactoryError(
                f"no training rows after the feature lookback: train_end is row {end} but features need {warm} "
                "bars of history; give more training bars or shorter windows"
            )
        X = compute_features(bars.iloc[:end], cfg).to_numpy()[warm:]
        center, scale = _scaling_stats(X, cfg.scaling)
        self.feature_names_ = feature_names(cfg)
        self.lookback_ = warm
        self.center_ = center
        self.scale_ = scale
        self.n_train_rows_ = int(X.shape[0])
        self.config_ = cfg
        return self

    def transform(self, bars: pd.DataFrame, rows=None) -> pd.DataFrame:
        """Scaled, clipped features of ``bars`` (``config.dtype``; NaN rows of the warm-up stay NaN); only at
        the bar positions ``rows`` when given (the features still read every bar before them)."""
        self._check_fitted()
        cfg = self.config_
        check_input(bars)
        X = compute_features(bars, cfg)
        if list(X.columns) != self.feature_names_:
            raise FactoryError("the features computed now differ from those the pipeline was fitted with")
        values = X.to_numpy()  # normally a view of the frame's single block, scaled in place
        index = X.index
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            values, index = values[rows], index[rows]  # a copy of those rows only
        elif not values.flags.writeable:
            values = values.copy()
        dt = values.dtype
        values -= self.center_.astype(dt)
        values /= self.scale_.astype(dt)
        np.clip(values, -cfg.clip, cfg.clip, out=values)
        return pd.DataFrame(values, index=index, columns=X.columns, copy=False)

    def fit_transform(
        self, bars: pd.DataFrame, train_end: int | pd.Timestamp | None = None, y: Any = None
    ) -> pd.DataFrame:
        return self.fit(bars, train_end).transform(bars)

    def _check_fitted(self) -> None:
        if not hasattr(self, "center_"):
            raise NotFittedError("this FeaturePipeline is not fitted yet: call fit(bars, train_end) first")

    # --- state -----------------------------------------------------------------------------------------
    def get_state(self) -> dict:
        """The fitted state as a JSON-compatible dict (arrays as lists of floats)."""
        self._check_fitted()
        meta = self._meta()
        meta["center"] = [float(x) for x in self.center_]
        meta["scale"] = [float(x) for x in self.scale_]
        return meta

    @classmethod
    def from_state(cls, state: dict) -> FeaturePipeline:
        """Rebuild a fitted pipeline from :meth:`get_state`'s dict."""
        try:
            center, scale = np.asarray(state["center"], float), np.asarray(state["scale"], float)
        except KeyError as exc:
            raise FactoryError(f"saved feature pipeline state lacks {exc.args[0]!r}") from None
        return cls._restore(state, center, scale)

    def save(self, directory: str | Path) -> Path:
        """Write ``feature_pipeline.json`` and ``feature_scaling.npz`` into ``directory`` (created if needed)."""
        self._check_fitted()
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / JSON_NAME).write_text(json.dumps(self._meta(), indent=2, sort_keys=True))
        np.savez(d / NPZ_NAME, center=self.center_, scale=self.scale_)
        return d

    @classmethod
    def load(cls, directory: str | Path) -> FeaturePipeline:
        d = Path(directory)
        try:
            meta = json.loads((d / JSON_NAME).read_text())
            with np.load(d / NPZ_NAME, allow_pickle=False) as npz:
                center, scale = npz["center"], npz["scale"]
        except FileNotFoundError as exc:
            raise FactoryError(f"no saved feature pipeline in {d}: {exc.filename} is missing") from None
        return cls._restore(meta, center, scale)

    def _meta(self) -> dict:
        return {
            "format": STATE_FORMAT,
            "factory_version": __version__,
            "config": self.config_.model_dump(mode="json"),
            "feature_names": list(self.feature_names_),
            "lookback": int(self.lookback_),
            "n_train_rows": int(self.n_train_rows_),
        }

    @classmethod
    def _restore(cls, meta: dict, center: np.ndarray, scale: np.ndarray) -> FeaturePipeline:
        if meta.get("format") != STATE_FORMAT:
            raise FactoryError(f"unsupported feature pipeline format {meta.get('format')!r} (expected {STATE_FORMAT}); "
                               "a model saved by an older version must be retrained")
        missing = [k for k in ("config", "feature_names", "lookback", "n_train_rows") if k not in meta]
        if missing:
            raise FactoryError(f"saved feature pipeline state lacks {missing}")
        cfg = FeatureConfig.from_dict(meta["config"], where="feature_pipeline.config")
        names = feature_names(cfg)
        if names != list(meta["feature_names"]):
            raise FactoryError("saved feature names do not match this version's features for the saved config")
        if center.shape != (len(names),) or scale.shape != (len(names),):
            raise FactoryError("saved scaling arrays do not match the number of features")
        obj = cls(cfg)
        obj.config_ = cfg
        obj.feature_names_ = names
        obj.lookback_ = int(meta["lookback"])
        obj.n_train_rows_ = int(meta["n_train_rows"])
        obj.center_ = np.asarray(center, dtype=np.float64)
        obj.scale_ = np.asarray(scale, dtype=np.float64)
        return obj


def _end_row(bars: pd.DataFrame, train_end) -> int:
    n = len(bars)
    if train_end is None:
        return n
    if isinstance(train_end, (int, np.integer)) and not isinstance(train_end, bool):
        if not 0 <= int(train_end) <= n:
            raise FactoryError(f"train_end={train_end} is outside 0..{n}")
        return int(train_end)
    try:
        ts = pd.Timestamp(train_end)
    except (TypeError, ValueError):
        raise FactoryError(f"train_end must be a row position or a timestamp, got {train_end!r}") from None
    if ts.tzinfo is None:
        raise FactoryError("a train_end timestamp must be timezone-aware (UTC)")
    stamps = pd.DatetimeIndex(bars["timestamp"]).as_unit("ns").asi8
    return int(np.searchsorted(stamps, ts.tz_convert("UTC").value, side="left"))


def _scaling_stats(X: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (centre, scale) of the training matrix, ignoring non-finite values.

    Column by column (a loop over features, not bars) so that only one float64 column exists at a time.
    """
    f = X.shape[1]
    center = np.zeros(f)
    scale = np.ones(f)
    if method == "none":
        return center, scale
    for j in range(f):
        col = X[:, j].astype(np.float64)
        col = col[np.isfinite(col)]
        if col.size == 0:
            continue
        if method == "robust":
            q25, q50, q75 = np.percentile(col, [25, 50, 75])
            center[j], s = q50, q75 - q25
        else:
            center[j], s = col.mean(), col.std()
        scale[j] = s if np.isfinite(s) and s > 0 else 1.0
    return center, scale
