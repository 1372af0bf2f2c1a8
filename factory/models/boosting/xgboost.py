"""XGBoost multiclass model: native early stopping, class balancing, gain importances and TreeSHAP.

Saved as XGBoost's own JSON model (``booster.json``), holding only the trees up to the best iteration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from factory.models._inputs import N_CLASSES, balance_factors, combined_weights
from factory.models.base import EvalSet, Spans
from factory.models.boosting._common import BoostedTreesModel, BoostingConfig, n_threads
from factory.models.registry import register_model

BOOSTER_FILE = "booster.json"


class XGBoostConfig(BoostingConfig):
    max_depth: int = Field(6, ge=1)
    min_child_weight: float = Field(1.0, ge=0)
    gamma: float = Field(0.0, ge=0)
    max_bin: int = Field(256, ge=2)
    tree_method: Literal["hist", "approx", "exact"] = "hist"


@register_model("xgboost", family="boosting")
class XGBoostModel(BoostedTreesModel):
    """Gradient-boosted trees with XGBoost's ``multi:softprob`` objective."""

    Config = XGBoostConfig
    requirements = ("xgboost",)

    def set_predict_threads(self, n: int) -> list[str]:
        self._require_fitted("set_predict_threads")
        self.booster_.set_param({"nthread": int(n)})
        return [self.key]

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {"n_estimators": 20, "max_depth": 3, "learning_rate": 0.2, "early_stopping_rounds": 5,
                "n_jobs": 1}

    def _params(self) -> dict[str, Any]:
        c = self.config
        return {
            "objective": "multi:softprob",
            "num_class": N_CLASSES,
            "eval_metric": "mlogloss",
            "eta": c.learning_rate,
            "max_depth": c.max_depth,
            "min_child_weight": c.min_child_weight,
            "gamma": c.gamma,
            "subsample": c.subsample,
            "colsample_bytree": c.colsample_bytree,
            "alpha": c.reg_alpha,
            "lambda": c.reg_lambda,
            "max_bin": c.max_bin,
            "tree_method": c.tree_method,
            "seed": c.seed,
            "nthread": n_threads(c.n_jobs),
            "verbosity": 0,
        }

    def _matrix(self, X: np.ndarray, y: np.ndarray | None = None, w: np.ndarray | None = None):
        import xgboost as xgb

        return xgb.DMatrix(X, label=y, weight=w, missing=np.nan, nthread=n_threads(self.config.n_jobs))

    def _fit(
        self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None, eval_set: EvalSet | None, spans: Spans | None
    ) -> None:
        import xgboost as xgb

        c = self.config
        factors = balance_factors(y, w) if c.class_weight == "balanced" else None
        dtrain = self._matrix(X, y, combined_weights(y, w, factors))
        evals, rounds = [], None
        if eval_set is not None:
            Xv, yv, wv = eval_set
            # The validation loss is weighted like the training loss, so early stopping tracks the objective.
            vf = None if factors is None else np.where(factors > 0, factors, 1.0)
            evals = [(self._matrix(Xv, yv, combined_weights(yv, wv, vf)), "val")]
            rounds = c.early_stopping_rounds
        booster = xgb.train(self._params(), dtrain, num_boost_round=c.n_estimators, evals=evals,
                            early_stopping_rounds=rounds, verbose_eval=False)
        if rounds:
            n_used = int(booster.best_iteration) + 1
            if n_used < booster.num_boosted_rounds():
                # Keep only the trees in use, so predictions, importances and the saved file agree.
                booster = booster[:n_used]
        self.booster_ = booster
        self.best_iteration_ = int(booster.num_boosted_rounds())

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.booster_.predict(self._matrix(X))

    def _raw(self, X: np.ndarray) -> np.ndarray:
        return self.booster_.predict(self._matrix(X), output_margin=True)

    def _contribs(self, X: np.ndarray) -> np.ndarray:
        return self.booster_.predict(self._matrix(X), pred_contribs=True)

    def _gain(self) -> np.ndarray:
        # "total_gain" (summed over splits) matches LightGBM's "gain"; XGBoost's "gain" is a per-split mean.
        scores = self.booster_.get_score(importance_type="total_gain")
        return np.array([scores.get(f"f{i}", 0.0) for i in range(self.n_features_in_)], dtype=np.float64)

    def _save(self, folder: Path) -> dict[str, Any]:
        self.booster_.save_model(str(folder / BOOSTER_FILE))
        return {"best_iteration": self.best_iteration_, "booster_file": BOOSTER_FILE}

    def _load(self, folder: Path, state: dict[str, Any]) -> None:
        import xgboost as xgb

        from factory.models.errors import ModelFileError

        path = folder / state.get("booster_file", BOOSTER_FILE)
        if not path.is_file():
            raise ModelFileError(f"missing XGBoost model file: {path}")
        booster = xgb.Booster()
        booster.load_model(str(path))
        booster.set_param({"nthread": n_threads(self.config.n_jobs)})
        self.booster_ = booster
        self.best_iteration_ = int(state["best_iteration"])
