"""LightGBM multiclass model: native early stopping, class balancing, gain importances and TreeSHAP.

Saved as LightGBM's own text model file (``booster.txt``), truncated to the best iteration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from factory.models._inputs import N_CLASSES, balance_factors, combined_weights
from factory.models.base import EvalSet, Spans
from factory.models.boosting._common import BoostedTreesModel, BoostingConfig, n_threads
from factory.models.registry import register_model

BOOSTER_FILE = "booster.txt"


class LightGBMConfig(BoostingConfig):
    num_leaves: int = Field(31, ge=2)
    max_depth: int = Field(-1, ge=-1)
    min_child_samples: int = Field(20, ge=1)
    # Bagging is redrawn every `subsample_freq` rounds; 0 switches bagging off whatever `subsample` says.
    subsample_freq: int = Field(1, ge=0)


@register_model("lightgbm", family="boosting")
class LightGBMModel(BoostedTreesModel):
    """Gradient-boosted trees with LightGBM's ``multiclass`` (softmax) objective."""

    Config = LightGBMConfig
    requirements = ("lightgbm",)
    # Threads of one prediction (None: LightGBM's default). A loaded model file does not keep a thread count;
    # LightGBM takes it only as an argument of Booster.predict.
    _predict_threads: int | None = None

    def set_predict_threads(self, n: int) -> list[str]:
        self._predict_threads = int(n)
        return [self.key]

    def _threads(self) -> dict[str, int]:
        return {} if self._predict_threads is None else {"num_threads": self._predict_threads}

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5, "learning_rate": 0.2,
                "early_stopping_rounds": 5, "n_jobs": 1}

    def _params(self) -> dict[str, Any]:
        c = self.config
        return {
            "objective": "multiclass",
            "num_class": N_CLASSES,
            "metric": "multi_logloss",
            "learning_rate": c.learning_rate,
            "num_leaves": c.num_leaves,
            "max_depth": c.max_depth,
            "min_data_in_leaf": c.min_child_samples,
            "bagging_fraction": c.subsample,
            "bagging_freq": c.subsample_freq if c.subsample < 1 else 0,
            "feature_fraction": c.colsample_bytree,
            "lambda_l1": c.reg_alpha,
            "lambda_l2": c.reg_lambda,
            "seed": c.seed,
            # deterministic + row-wise histograms make results identical run to run on the same machine.
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": n_threads(c.n_jobs),
            "verbosity": -1,
        }

    def _fit(
        self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None, eval_set: EvalSet | None, spans: Spans | None
    ) -> None:
        import lightgbm as lgb

        c = self.config
        factors = balance_factors(y, w) if c.class_weight == "balanced" else None
        # Internal names f0..fN: LightGBM rejects some characters in names; ours are mapped back on output.
        names = [f"f{i}" for i in range(X.shape[1])]
        train = lgb.Dataset(X, label=y, weight=combined_weights(y, w, factors), feature_name=names,
                            params={"verbosity": -1})
        valid_sets, callbacks = [], []
        if eval_set is not None:
            Xv, yv, wv = eval_set
            # The validation loss is weighted like the training loss, so early stopping tracks the objective.
            vf = None if factors is None else np.where(factors > 0, factors, 1.0)
            valid_sets = [lgb.Dataset(Xv, label=yv, weight=combined_weights(yv, wv, vf), reference=train)]
            if c.early_stopping_rounds:
                callbacks.append(lgb.early_stopping(c.early_stopping_rounds, first_metric_only=True, verbose=False))
        booster = lgb.train(self._params(), train, num_boost_round=c.n_estimators, valid_sets=valid_sets,
                            valid_names=["val"][: len(valid_sets)], callbacks=callbacks)
        self.booster_ = booster
        self.best_iteration_ = int(booster.best_iteration or booster.current_iteration())

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.booster_.predict(X, num_iteration=self.best_iteration_, **self._threads())

    def _raw(self, X: np.ndarray) -> np.ndarray:
        return self.booster_.predict(X, num_iteration=self.best_iteration_, raw_score=True)

    def _contribs(self, X: np.ndarray) -> np.ndarray:
        # LightGBM lays contributions out class by class: [class0 features + bias, class1 ..., class2 ...].
        flat = self.booster_.predict(X, num_iteration=self.best_iteration_, pred_contrib=True)
        return np.asarray(flat).reshape(len(X), N_CLASSES, X.shape[1] + 1)

    def _gain(self) -> np.ndarray:
        return self.booster_.feature_importance(importance_type="gain", iteration=self.best_iteration_)

    def _save(self, folder: Path) -> dict[str, Any]:
        self.booster_.save_model(str(folder / BOOSTER_FILE), num_iteration=self.best_iteration_)
        return {"best_iteration": self.best_iteration_, "booster_file": BOOSTER_FILE}

    def _load(self, folder: Path, state: dict[str, Any]) -> None:
        import lightgbm as lgb

        from factory.models.errors import ModelFileError

        path = folder / state.get("booster_file", BOOSTER_FILE)
        if not path.is_file():
            raise ModelFileError(f"missing LightGBM model file: {path}")
        self.booster_ = lgb.Booster(model_file=str(path))
        self.best_iteration_ = int(state["best_iteration"])
