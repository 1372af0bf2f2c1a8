"""Weighted soft vote over registered models.

Members (default: xgboost, lightgbm, logistic) are created through the registry and fitted on the same
training data, each early-stopping on ``eval_set`` where it can. Weights, with ``weighting``:

* ``inverse_log_loss`` (default): ``w_k ∝ (1 / L_k) ** weight_power`` where ``L_k`` is member k's log loss on
  ``eval_set`` (sample-weighted when ``w_val`` is given), normalised to sum to 1. Without an ``eval_set``
  there is nothing out-of-sample to judge by and the weights fall back to equal.
* ``equal``: ``1 / n_members``.

The ensemble probability is ``sum_k w_k p_k``. The validation set both stops the members early and sets the
weights, so the validation loss of the ensemble is mildly optimistic; judge it on the test split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from factory.models._metrics import log_loss
from factory.models.base import EvalSet, FactoryModel, Spans
from factory.models.ensembles._members import (
    EnsembleConfig, check_member_settings, eval_for_member, labels, load_members, member_import_names, new_member,
    save_members, set_parts_threads, with_names,
)
from factory.models.registry import register_model


class VotingConfig(EnsembleConfig):
    weighting: Literal["inverse_log_loss", "equal"] = "inverse_log_loss"
    # Larger powers move weight faster towards the best member; 0 gives equal weights.
    weight_power: float = Field(1.0, ge=0)


@register_model("voting", family="ensemble")
class VotingModel(FactoryModel):
    """Soft-voting ensemble; NaN handling is left to each member (a logistic member rejects NaN)."""

    Config = VotingConfig
    allows_nan = True

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        check_member_settings("voting", self.config.members, self.config.member_params)

    def import_names(self) -> set[str]:
        return super().import_names() | member_import_names(self.config.members)

    def set_predict_threads(self, n: int) -> list[str]:
        return set_parts_threads(self, n)

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        from factory.models.registry import get_model_class

        members = ["xgboost", "lightgbm", "logistic"]
        return {"members": members, "member_params": {k: get_model_class(k).get_test_params() for k in members}}

    def _fit(
        self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None, eval_set: EvalSet | None, spans: Spans | None
    ) -> None:
        c = self.config
        ev = eval_for_member(eval_set, self.feature_names_in_)
        Xn = with_names(X, self.feature_names_in_)
        self.members_ = [new_member(k, c.member_params, c.seed).fit(Xn, labels(y), w, ev) for k in c.members]
        if eval_set is not None:
            Xv, yv, wv = eval_set
            self.val_log_loss_ = np.array([log_loss(yv, m.predict_proba(Xv), wv) for m in self.members_])
        else:
            self.val_log_loss_ = np.full(len(self.members_), np.nan)
        self.weights_ = self._weights(self.val_log_loss_)

    def _weights(self, losses: np.ndarray) -> np.ndarray:
        n = len(losses)
        if self.config.weighting == "equal" or not np.isfinite(losses).all():
            return np.full(n, 1.0 / n)
        raw = (1.0 / np.maximum(losses, 1e-12)) ** self.config.weight_power
        return raw / raw.sum()

    def member_proba(self, X: Any) -> np.ndarray:
        """Each member's probabilities, shape ``(n_members, n, 3)``."""
        self._require_fitted("member_proba")
        Xa = self._features_for_predict(X)
        return np.stack([m.predict_proba(Xa) for m in self.members_])

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.tensordot(self.weights_, np.stack([m.predict_proba(X) for m in self.members_]), axes=1)

    def _save(self, folder: Path) -> dict[str, Any]:
        return {"members": save_members(folder, self.members_), "weights": self.weights_,
                "val_log_loss": [float(v) if np.isfinite(v) else None for v in self.val_log_loss_]}

    def _load(self, folder: Path, state: dict[str, Any]) -> None:
        self.members_ = load_members(folder, state["members"])
        self.weights_ = np.asarray(state["weights"], dtype=np.float64)
        self.val_log_loss_ = np.array([np.nan if v is None else v for v in state["val_log_loss"]], dtype=float)
