"""Refit the dataset's fitted inputs (feature scaling, HMM, volatility thresholds) on one CPCV split's rows.

:func:`factory.dataset.build_dataset` fits three things on the chronological training prefix (rows before
``train_end``): the FeaturePipeline's centre/scale, the RegimeHMM and the volatility-regime terciles. CPCV test
groups lie inside that prefix, so reusing the dataset's fitted inputs in a CPCV split would let the test bars
shape the scaling and the regimes the model reads. :func:`refit_inputs` refits all three on the given bar rows
only (a split's training samples): :func:`fit_split_inputs` fits them once per split (small, picklable state)
and :func:`with_split_inputs` gives a copy of the dataset whose ``features``, ``regimes``, ``feature_pipeline``
and ``hmm`` come from that fit, with uniqueness weights computed among the split's own training samples.

What does not change: the raw causal features (a function of past bars only, nothing fitted), the labels (the
config's fixed barriers; nothing is fitted on bars) and the trend regime (a fixed-window efficiency ratio).

The HMM is fitted on its input rows with every non-training row masked out (NaN): hmmlearn then sees the
training stretches joined end to end, one artificial transition per gap between stretches, which is a few
transitions among thousands of rows. The embargo (at least the inputs' lookback) guarantees that no input row
of a training sample reads a test bar, so masking rows is enough to keep the test bars out of every fit.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from factory.errors import FactoryError


def scaling_state(dataset, raw_features: np.ndarray, rows: np.ndarray) -> dict:
    """The FeaturePipeline state with centre/scale from the raw features at ``rows`` (the dataset's method)."""
    from factory.features.pipeline import _scaling_stats

    state = dataset.feature_pipeline.get_state()
    center, scale = _scaling_stats(raw_features[rows], dataset.feature_pipeline.config_.scaling)
    state.update(center=[float(x) for x in center], scale=[float(x) for x in scale], n_train_rows=int(len(rows)))
    return state


def volatility_thresholds(bars, window: int, rows: np.ndarray) -> tuple[float, float]:
    """Realised-vol terciles over ``rows`` (the rule of :class:`factory.regimes.VolatilityRegime`)."""
    from factory.regimes.simple import realized_vol

    rv = realized_vol(bars, window)[rows]
    rv = rv[np.isfinite(rv)]
    if rv.size < 3:
        raise FactoryError(f"volatility regime needs realised vol on >= 3 training rows, got {rv.size}")
    lo, hi = np.quantile(rv, [1.0 / 3.0, 2.0 / 3.0])
    return float(lo), float(hi)


def raw_features(dataset) -> np.ndarray:
    """Unscaled causal features of every bar (computed once, shared by all splits)."""
    from factory.features.compute import compute_features

    return compute_features(dataset.bars, dataset.feature_pipeline.config_).to_numpy()


@dataclasses.dataclass
class SplitInputs:
    """What one split fits on its training rows: small, picklable, applied to the dataset by each worker."""

    rows: np.ndarray  # the bar rows everything below was fitted on
    feature_state: dict  # FeaturePipeline.get_state() with this split's centre/scale
    hmm: object  # fitted RegimeHMM
    vol_thresholds: tuple[float, float]
    weights: np.ndarray  # uniqueness weights aligned with dataset.sample_rows (the split's samples recomputed)


def fit_split_inputs(dataset, rows, raw: np.ndarray | None = None) -> SplitInputs:
    """Fit scaling, HMM and volatility thresholds on bar ``rows`` only (sorted training-sample rows).

    ``raw``: :func:`raw_features` of the dataset, to compute them once for many splits.
    """
    from factory.labels import label_uniqueness_weights
    from factory.regimes import RegimeHMM, hmm_inputs

    rows = np.unique(np.asarray(rows, dtype=np.int64))
    if rows.size == 0:
        raise FactoryError("cannot fit the inputs of a split without training rows")
    bars = dataset.bars
    cfg = dataset.config.regimes
    state = scaling_state(dataset, raw_features(dataset) if raw is None else raw, rows)
    x = hmm_inputs(bars, cfg.input_vol_window)
    masked = np.full_like(x, np.nan)
    masked[rows] = x[rows]  # every other row (test, purged, embargoed, warm-up) is invisible to the fit
    hmm = RegimeHMM(cfg).fit(masked)
    # Uniqueness among the split's own training samples (test labels no longer dilute their neighbours').
    t1 = dataset.labels["t1"].to_numpy()
    weights = dataset.weights.copy()
    weights[np.searchsorted(dataset.sample_rows, rows)] = label_uniqueness_weights(rows, t1[rows], len(bars))
    return SplitInputs(rows, state, hmm, volatility_thresholds(bars, cfg.vol_window, rows), weights)


def with_split_inputs(dataset, inputs: SplitInputs):
    """A copy of ``dataset`` whose features, regimes, feature pipeline, HMM and weights come from ``inputs``."""
    from factory.features.pipeline import FeaturePipeline
    from factory.packaging.model_inputs import HMM_PREFIX, compute_model_inputs
    from factory.regimes import VolatilityRegime

    bars = dataset.bars
    fp = FeaturePipeline.from_state(inputs.feature_state)
    features = compute_model_inputs(bars, fp, inputs.hmm)
    if not np.isfinite(features.to_numpy()[dataset.sample_rows]).all():
        raise FactoryError("a split's refitted inputs are not finite on every sample row")
    regimes = features.filter(like=HMM_PREFIX).astype(np.float64).reset_index(drop=True)
    vol = VolatilityRegime(dataset.config.regimes.vol_window)
    vol.thresholds_ = tuple(inputs.vol_thresholds)
    regimes["vol_regime"] = vol.transform(bars)
    regimes["trend_regime"] = dataset.regimes["trend_regime"].to_numpy()
    return dataclasses.replace(dataset, features=features, regimes=regimes, feature_pipeline=fp, hmm=inputs.hmm,
                               weights=inputs.weights)


def refit_inputs(dataset, rows, raw: np.ndarray | None = None):
    """A copy of ``dataset`` with its fitted inputs refitted on bar ``rows`` only (see the module docstring)."""
    return with_split_inputs(dataset, fit_split_inputs(dataset, rows, raw))
