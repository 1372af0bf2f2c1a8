"""Build the one leakage-safe dataset every model trains on.

Order matters and is the whole point:

1. validate the bars;
2. fix the chronological boundaries from bar fractions (before anything is fitted);
3. compute causal features and fit their scaling on training rows only;
4. fit the HMM on training rows only and take forward-filtered (past-only) regime probabilities;
5. tune the triple barriers with Optuna on training bars only, then label every bar;
6. split samples with purge (by label end time) and embargo (at least the feature warm-up);
7. weight training samples by label uniqueness.

The same function backs ``mlflow run . -e pipeline`` and, later, ``-e train``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from factory.config import PipelineConfig
from factory.contracts import CostModel, get_contract
from factory.errors import DataValidationError, Issue


@dataclass
class Dataset:
    """Everything the pipeline produced, aligned on the rows of ``bars``."""

    config: PipelineConfig
    bars: pd.DataFrame
    features: pd.DataFrame  # scaled causal features + regime probabilities, one row per bar
    labels: pd.DataFrame  # triple-barrier output, one row per bar (NaN label where invalid)
    regimes: pd.DataFrame  # filtered HMM state probabilities + simple vol/trend regime labels
    split: Any  # factory.validation.splits.SplitResult over `sample_rows`
    sample_rows: np.ndarray  # bar rows that are usable samples (past warm-up, valid label)
    weights: np.ndarray  # uniqueness weight per sample (aligned with sample_rows)
    barriers: dict[str, Any]  # chosen k_up, k_down, horizon (+ tuning score)
    cost_model: CostModel
    feature_pipeline: Any
    hmm: Any
    train_end: int  # first bar row not available to any fitting
    warnings: list[Issue] = field(default_factory=list)

    @property
    def input_lookback(self) -> int:
        """Bars before t that the input row at t reads (features and HMM); rows before it are warm-up."""
        from factory.packaging.model_inputs import input_lookback

        return input_lookback(self.feature_pipeline, self.hmm)

    @property
    def barrier_definition(self):
        """The labels' barriers (chosen widths and horizon, ATR window, the costs the labels used) as a
        :class:`~factory.labels.barriers.BarrierDefinition`."""
        from factory.labels.barriers import BarrierDefinition

        return BarrierDefinition(k_up=float(self.barriers["k_up"]), k_down=float(self.barriers["k_down"]),
                                 horizon=int(self.barriers["horizon"]), atr_window=int(self.config.labels.atr_window),
                                 round_trip_points=float(self.cost_model.round_trip_points))

    def rows(self, part: str) -> np.ndarray:
        """Bar rows of the samples in ``part`` ('train', 'val' or 'test')."""
        return self.sample_rows[getattr(self.split, part)]

    def xy(self, part: str) -> tuple[pd.DataFrame, np.ndarray]:
        rows = self.rows(part)
        return self.features.iloc[rows], self.labels["label"].to_numpy()[rows].astype(np.int64)

    def summary(self) -> dict[str, float]:
        """Dataset statistics logged as MLflow metrics."""
        out: dict[str, float] = {
            "n_bars": float(len(self.bars)),
            "n_features": float(self.features.shape[1]),
            "n_samples": float(len(self.sample_rows)),
            "input_lookback_bars": float(self.input_lookback),
            "train_end_row": float(self.train_end),
        }
        for part in ("train", "val", "test"):
            idx = getattr(self.split, part)
            out[f"n_{part}"] = float(len(idx))
            lab = self.labels["label"].to_numpy()[self.sample_rows[idx]]
            for value, name in ((-1, "down"), (0, "flat"), (1, "up")):
                out[f"label_{name}_frac_{part}"] = float(np.mean(lab == value)) if len(lab) else float("nan")
        for key in ("k_up", "k_down", "horizon"):
            out[f"barrier_{key}"] = float(self.barriers[key])
        probs = self.regimes.filter(like="hmm_p").to_numpy()
        valid = np.isfinite(probs).all(axis=1)
        if valid.any():
            occ = np.bincount(probs[valid].argmax(axis=1), minlength=probs.shape[1]) / valid.sum()
            for k, v in enumerate(occ):
                out[f"regime_occupancy_{k}"] = float(v)
        out["mean_cost_in_atr"] = float(np.nanmean(self.labels["cost_in_atr"].to_numpy()[self.sample_rows]))
        return out


def _progress(enabled: bool, total: int):
    from factory.progress import progress_bar

    return progress_bar(total, "pipeline", unit="step", disable=not enabled)


def build_dataset(bars: pd.DataFrame, config: PipelineConfig, *, progress: bool = False) -> Dataset:
    """Run the whole leakage-safe pipeline on validated bars. See the module docstring for the order."""
    from factory.data.validation import validate_bars
    from factory.features.pipeline import FeaturePipeline
    from factory.labels import label_uniqueness_weights, triple_barrier_labels, tune_barriers
    from factory.packaging.model_inputs import HMM_PREFIX, compute_model_inputs
    from factory.regimes import RegimeHMM, hmm_inputs, trend_regime, volatility_regime
    from factory.validation import chronological_split
    from factory.validation.splits import check_embargo

    fp = FeaturePipeline(config.features)
    # Every input row reads this many bars back (features and HMM), whatever the data: known before any work.
    warmup = max(fp.lookback_bars(), RegimeHMM(config.regimes).lookback)
    # The embargo must cover it: checked before any work is done (fit_bundle adds the model's own window).
    check_embargo(config.split.embargo_bars, warmup, 0)

    from factory.data.loading import data_calendar

    min_bars = _min_bars(config, warmup)
    # Warnings were already reported when the data was read; here only errors matter (and the length).
    issues = validate_bars(bars, min_bars=min_bars, gap_factor=config.data.gap_factor, calendar=data_calendar(config))
    if any(i.severity == "error" for i in issues):
        raise DataValidationError(issues)
    warnings = issues
    bars = bars.reset_index(drop=True)
    n = len(bars)
    # Same rounding as chronological_split, which asserts it below.
    train_end = int(round(config.split.train_frac * n))
    cost_model = get_contract(config.contract).cost_model()
    if not config.labels.include_costs:
        cost_model = CostModel.zero()

    with _progress(progress, 5) as bar:
        bar.set_description("features")
        fp.fit(bars, train_end=train_end)
        bar.update()

        bar.set_description("regimes (HMM, forward filter)")
        hmm = RegimeHMM(config.regimes).fit(hmm_inputs(bars, config.regimes.input_vol_window), train_end=train_end)
        # The same function the served pyfunc calls: training and serving inputs cannot drift apart.
        features = compute_model_inputs(bars, fp, hmm)
        regimes = features.filter(like=HMM_PREFIX).astype(np.float64).reset_index(drop=True)
        regimes["vol_regime"] = volatility_regime(bars, config.regimes.vol_window, train_end)
        regimes["trend_regime"] = trend_regime(bars, config.regimes.trend_window)
        bar.update()

        bar.set_description("barrier tuning (train only)")
        lc = config.labels
        if lc.tuning.enabled:
            tuned = tune_barriers(bars.iloc[:train_end], lc, cost_model)
            barriers = {"k_up": tuned.k_up, "k_down": tuned.k_down, "horizon": tuned.horizon,
                        "tuning_score": tuned.score}
        else:
            barriers = {"k_up": lc.k_up, "k_down": lc.k_down, "horizon": lc.horizon}
        bar.update()

        bar.set_description("labels")
        labels = triple_barrier_labels(
            bars, barriers["k_up"], barriers["k_down"], int(barriers["horizon"]),
            cost_model=cost_model, atr_window=lc.atr_window, path=lc.path, entry=lc.entry,
        )
        bar.update()

        bar.set_description("split (purge + embargo)")
        t1 = labels["t1"].to_numpy()
        feat_ok = np.isfinite(features.to_numpy()).all(axis=1)
        sample_rows = np.flatnonzero((np.arange(n) >= warmup) & (t1 >= 0) & feat_ok)
        split = chronological_split(sample_rows, t1[sample_rows], config.split, feature_warmup=warmup, n_bars=n)
        assert split.boundaries.train_end == train_end
        weights = label_uniqueness_weights(sample_rows, t1[sample_rows], n)
        bar.update()

    return Dataset(
        config=config, bars=bars, features=features, labels=labels, regimes=regimes, split=split,
        sample_rows=sample_rows, weights=weights, barriers=barriers, cost_model=cost_model,
        feature_pipeline=fp, hmm=hmm, train_end=train_end, warnings=list(warnings),
    )


def pipeline_min_bars(config: PipelineConfig) -> int:
    """Fewest bars the pipeline with ``config`` can split (see :func:`_min_bars`), known before reading any data."""
    from factory.features.pipeline import FeaturePipeline
    from factory.regimes import RegimeHMM

    return _min_bars(config, max(FeaturePipeline(config.features).lookback_bars(), RegimeHMM(config.regimes).lookback))


def _min_bars(config: PipelineConfig, warmup: int) -> int:
    """Fewest bars that can give non-empty train, validation and test splits.

    Every segment must hold some labelled samples (20 at least) after its gaps: the training segment after the
    warm-up, the validation and test segments after the embargo that precedes them (and the purge at their end).
    """
    s = config.split
    horizon = max(config.labels.horizon, config.labels.tuning.horizon_range[1])
    room = s.purge_bars + horizon + 20  # a label's span, the purge, and 20 samples at least
    test_frac = 1.0 - s.train_frac - s.val_frac
    return max(warmup + 2 * (s.embargo_bars + s.purge_bars) + 3 * horizon + 100,
               math.ceil((warmup + room) / s.train_frac),
               math.ceil((s.embargo_bars + room) / min(s.val_frac, test_frac)))
