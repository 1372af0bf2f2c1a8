"""Leakage-safe validation: purged / embargoed splits and overfitting statistics.

Every splitter works on label spans ``[t0, t1]`` in bar rows and yields sample positions. Around each test
block training samples whose labels overlap it (or end within ``purge_bars`` before it) are purged, and those
starting within ``embargo_bars`` after it are embargoed; an embargo shorter than the feature warm-up plus
model look-back is a :class:`~factory.errors.LeakageError`.
"""

from factory.validation._spans import check_embargo, check_min_embargo, required_embargo
from factory.validation.config import SplitConfig
from factory.validation.cpcv import CombinatorialPurgedCV
from factory.validation.purged_kfold import PurgedKFold
from factory.validation.splits import Boundaries, SplitResult, chronological_split
from factory.validation.stats import (
    PBOResult,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)
from factory.validation.walk_forward import WalkForward

__all__ = [
    "Boundaries",
    "CombinatorialPurgedCV",
    "PBOResult",
    "PurgedKFold",
    "SplitConfig",
    "SplitResult",
    "WalkForward",
    "check_embargo",
    "check_min_embargo",
    "chronological_split",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "required_embargo",
]
