"""Multinomial logistic regression (scikit-learn, L2) on features that were already scaled on training rows.

NaN features are an error (drop or impute first). Saved as JSON coefficients; loading rebuilds a
``LogisticRegression`` with the same ``coef_``/``intercept_``/``classes_``, which predicts identically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from factory.models import _io
from factory.models._inputs import N_CLASSES, balance_factors, combined_weights
from factory.models.base import EvalSet, FactoryModel, ModelConfig, Spans
from factory.models.registry import register_model

COEF_FILE = "coefficients.json"


class LogisticConfig(ModelConfig):
    # Inverse L2 strength; features are expected standardised, so 1.0 is a sensible default.
    C: float = Field(1.0, gt=0)
    max_iter: int = Field(1000, ge=1)
    tol: float = Field(1e-6, gt=0)
    fit_intercept: bool = True
    class_weight: Literal["balanced"] | None = "balanced"


@register_model("logistic", family="linear")
class LogisticModel(FactoryModel):
    """L2-regularised softmax regression (lbfgs). ``eval_set`` is accepted and unused (no early stopping)."""

    Config = LogisticConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {"C": 0.5, "max_iter": 200}

    def _estimator(self):
        from sklearn.linear_model import LogisticRegression

        c = self.config
        return LogisticRegression(C=c.C, max_iter=c.max_iter, tol=c.tol, fit_intercept=c.fit_intercept,
                                  random_state=c.seed)

    def _fit(
        self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None, eval_set: EvalSet | None, spans: Spans | None
    ) -> None:
        factors = balance_factors(y, w) if self.config.class_weight == "balanced" else None
        est = self._estimator()
        est.fit(X, y, sample_weight=combined_weights(y, w, factors))
        self.estimator_ = est
        self.n_iter_ = int(np.max(est.n_iter_))

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        # The estimator knows only the classes it saw; classes absent from training get probability 0.
        out = np.zeros((len(X), N_CLASSES))
        out[:, self.estimator_.classes_] = self.estimator_.predict_proba(X)
        return out

    @property
    def coef_(self) -> np.ndarray:
        return self.estimator_.coef_

    def _save(self, folder: Path) -> dict[str, Any]:
        est = self.estimator_
        _io.write_json(folder / COEF_FILE, {
            "classes": est.classes_, "coef": est.coef_, "intercept": est.intercept_, "n_iter": est.n_iter_,
        })
        return {"coef_file": COEF_FILE}

    def _load(self, folder: Path, state: dict[str, Any]) -> None:
        data = _io.read_json(folder / state.get("coef_file", COEF_FILE))
        est = self._estimator()
        est.classes_ = np.asarray(data["classes"], dtype=np.int64)
        est.coef_ = np.asarray(data["coef"], dtype=np.float64)
        est.intercept_ = np.asarray(data["intercept"], dtype=np.float64)
        est.n_iter_ = np.asarray(data["n_iter"], dtype=np.int32)
        est.n_features_in_ = self.n_features_in_
        self.estimator_ = est
        self.n_iter_ = int(np.max(est.n_iter_))
