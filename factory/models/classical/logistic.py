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
        # The softmax of the linear scores, computed row by row: a BLAS matrix product rounds a row differently
        # depending on how many rows share the call (its blocking), which would make one served bar differ
        # from the same bar scored inside a long history. einsum's own loop gives every row the same
        # arithmetic whatever the batch. Classes absent from training get probability 0.
        est = self.estimator_
        # Both operands C-contiguous: einsum's loop (and so the rounding) depends on the memory layout, and a
        # fitted coef_ is not always laid out like a loaded one.
        scores = np.einsum("ij,kj->ik", np.ascontiguousarray(X), np.ascontiguousarray(est.coef_)) + est.intercept_
        if scores.shape[1] == 1:  # two classes: scikit-learn keeps one score column
            scores = np.hstack([-scores, scores]) / 2.0
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=1, keepdims=True)
        out = np.zeros((len(X), N_CLASSES))
        out[:, est.classes_] = p
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
