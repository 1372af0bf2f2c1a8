"""What the boosted-tree models share: settings, thread count, importances and SHAP layout."""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from factory.models.base import FactoryModel, ModelConfig
from factory.models.errors import ModelInputError


class BoostingConfig(ModelConfig):
    n_estimators: int = Field(500, ge=1)
    learning_rate: float = Field(0.05, gt=0, le=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_alpha: float = Field(0.0, ge=0)
    reg_lambda: float = Field(1.0, ge=0)
    # "balanced" gives every class present the same total (sample-weighted) weight.
    class_weight: Literal["balanced"] | None = "balanced"
    # Rounds without improvement of the eval_set log loss before training stops; null trains all rounds.
    early_stopping_rounds: int | None = Field(50, ge=1)
    # null: every core of the machine (os.cpu_count()).
    n_jobs: int | None = Field(None, ge=1)


def n_threads(n_jobs: int | None) -> int:
    return int(n_jobs or os.cpu_count() or 1)


class BoostedTreesModel(FactoryModel):
    """Base of the tree-boosting models; NaN features are allowed (the trees learn a missing-value branch)."""

    allows_nan = True
    Config = BoostingConfig

    def feature_importance(self) -> pd.Series:
        """Total split gain per feature over the trees in use, indexed by feature name (zero if never used)."""
        self._require_fitted("feature_importance")
        return pd.Series(self._gain(), index=self.feature_names_, name="gain", dtype=np.float64)

    def shap_values(self, X: Any) -> np.ndarray:
        """Exact TreeSHAP contributions from the library, shape ``(n, 3, n_features + 1)``.

        Axis 1 is the class (down, flat, up); the last entry of axis 2 is the bias (expected raw margin), so
        ``shap_values(X).sum(axis=2) == predict_raw(X)`` (raw margins, before the softmax).
        """
        self._require_fitted("shap_values")
        Xa = self._features_for_predict(X)
        out = np.asarray(self._contribs(Xa), dtype=np.float64)
        if out.shape != (len(Xa), 3, self.n_features_in_ + 1):
            raise ModelInputError(f"unexpected SHAP output shape {out.shape}")
        return out

    def predict_raw(self, X: Any) -> np.ndarray:
        """Raw multiclass margins ``(n, 3)`` (the softmax of which is ``predict_proba``)."""
        self._require_fitted("predict_raw")
        return np.asarray(self._raw(self._features_for_predict(X)), dtype=np.float64)

    def _gain(self) -> np.ndarray:
        raise NotImplementedError

    def _contribs(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _raw(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError
