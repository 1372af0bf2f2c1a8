"""Cost-aware triple-barrier labels, overlap weights and train-only barrier tuning."""

from factory.labels.config import LabelConfig, TuningConfig
from factory.labels.triple_barrier import LABEL_COLUMNS, entry_prices, labels_from_config, triple_barrier_labels
from factory.labels.tuning import (
    BarrierTrial,
    TunedBarriers,
    barrier_score,
    barrier_trials,
    tune_barriers,
    tune_on_split,
)
from factory.labels.weights import (
    concurrency,
    label_uniqueness_weights,
    return_attribution_weights,
)

__all__ = [
    "BarrierTrial",
    "LABEL_COLUMNS",
    "LabelConfig",
    "TunedBarriers",
    "TuningConfig",
    "barrier_score",
    "barrier_trials",
    "concurrency",
    "label_uniqueness_weights",
    "entry_prices",
    "labels_from_config",
    "return_attribution_weights",
    "triple_barrier_labels",
    "tune_barriers",
    "tune_on_split",
]
