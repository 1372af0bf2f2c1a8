"""Stacking: a meta-learner trained on out-of-fold member probabilities from purged k-fold.

Fitting, on the training split only:

1. ``PurgedKFold(n_splits, purge_bars, embargo_bars)`` cuts the training samples into time-contiguous folds
   using their label spans ``t0``/``t1`` (pass them to ``fit`` or ``set_label_spans``). For each fold, fresh
   members are fitted on the other folds minus every sample whose label span touches the fold (purge) or
   starts within ``embargo_bars`` after it (embargo), then predict the fold. So no sample's own label, nor
   any label overlapping it, reaches its out-of-fold (OOF) prediction.
2. The meta-learner (``logistic`` by default) is fitted on the OOF probabilities of all members, concatenated
   as ``[member1 (down, flat, up), member2 (...), ...]``; samples without a valid span get no OOF row and are
   left out of this step.
3. The members are refitted on the whole training split; inference runs them and feeds the meta-learner.

``eval_set`` (the purged validation split) early-stops the members and is handed to the meta-learner.
The embargo must cover the lookback of the inputs (``fit(..., input_lookback=...)``: the bars of history each
feature row reads) plus the members' own; a shorter ``embargo_bars`` raises :class:`~factory.errors.LeakageError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from factory.models._inputs import CLASS_NAMES, N_CLASSES
from factory.models.base import EvalSet, FactoryModel, Spans
from factory.models.ensembles._members import (
    EnsembleConfig, check_member_settings, eval_for_member, labels, load_members, member_import_names, new_member,
    save_members, set_parts_threads, with_names,
)
from factory.models.errors import ModelInputError
from factory.models.registry import load_model, register_model

META_DIR = "meta"


class StackingConfig(EnsembleConfig):
    meta: str = "logistic"
    meta_params: dict[str, Any] = Field(default_factory=dict)
    n_splits: int = Field(5, ge=2)
    purge_bars: int = Field(60, ge=0)
    embargo_bars: int = Field(2000, ge=0)


@register_model("stacking", family="ensemble")
class StackingModel(FactoryModel):
    """Stacked generalisation with purged out-of-fold member predictions. Needs label spans to fit."""

    Config = StackingConfig
    allows_nan = True

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        c = self.config
        check_member_settings("stacking", c.members, c.member_params)
        check_member_settings("stacking", [c.meta], {c.meta: c.meta_params})

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        from factory.models.registry import get_model_class

        members = ["lightgbm", "logistic"]
        return {"members": members, "member_params": {k: get_model_class(k).get_test_params() for k in members},
                "n_splits": 3, "purge_bars": 5, "embargo_bars": 5}

    def import_names(self) -> set[str]:
        return super().import_names() | member_import_names([*self.config.members, self.config.meta])

    def set_predict_threads(self, n: int) -> list[str]:
        return set_parts_threads(self, n)

    @property
    def meta_feature_names(self) -> list[str]:
        return [f"{k}_p_{name}" for k in self.config.members for name in CLASS_NAMES]

    def _splitter(self):
        from factory.validation.purged_kfold import PurgedKFold

        c = self.config
        # Members are tabular (checked at construction): they read no history beyond the inputs' own lookback.
        return PurgedKFold(c.n_splits, c.purge_bars, c.embargo_bars, feature_warmup=self.input_lookback_)

    def _fit(
        self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None, eval_set: EvalSet | None, spans: Spans | None
    ) -> None:
        if spans is None:
            raise ModelInputError(
                "stacking needs the label spans of the training rows for its purged folds: "
                "call fit(X, y, t0=..., t1=...) or set_label_spans(t0, t1) first"
            )
        c = self.config
        names = self.feature_names_in_
        ev = eval_for_member(eval_set, names)
        folds = list(self._splitter().split(X, t0=spans[0], t1=spans[1]))
        oof = np.full((len(X), len(c.members), N_CLASSES), np.nan)
        for f, (tr, te) in enumerate(folds):
            for j, key in enumerate(c.members):
                try:
                    member = new_member(key, c.member_params, c.seed).fit(
                        with_names(X[tr], names), labels(y[tr]), None if w is None else w[tr], ev)
                except ModelInputError as exc:
                    raise ModelInputError(f"stacking fold {f}, member '{key}': {exc}") from None
                oof[te, j] = member.predict_proba(X[te])
        covered = ~np.isnan(oof).any(axis=(1, 2))
        self.folds_ = folds
        self.oof_proba_ = oof
        Xn = with_names(X, names)
        self.members_ = [new_member(k, c.member_params, c.seed).fit(Xn, labels(y), w, ev) for k in c.members]
        meta_ev = None
        if eval_set is not None:
            Xv, yv, wv = eval_set
            meta_ev = (self._stack(self._member_proba(Xv)), labels(yv)) + (() if wv is None else (wv,))
        meta_X = self._stack(oof[covered])
        self.meta_ = new_member(c.meta, {c.meta: c.meta_params}, c.seed).fit(
            meta_X, labels(y[covered]), None if w is None else w[covered], meta_ev)

    def _member_proba(self, X: np.ndarray) -> np.ndarray:
        return np.stack([m.predict_proba(X) for m in self.members_], axis=1)

    def _stack(self, proba: np.ndarray):
        """(n, members, 3) -> named (n, 3 * members) meta features."""
        import pandas as pd

        return pd.DataFrame(proba.reshape(len(proba), -1), columns=self.meta_feature_names)

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.meta_.predict_proba(self._stack(self._member_proba(X)))

    def _save(self, folder: Path) -> dict[str, Any]:
        self.meta_.save(folder / META_DIR)
        return {"members": save_members(folder, self.members_), "meta": META_DIR}

    def _load(self, folder: Path, state: dict[str, Any]) -> None:
        self.members_ = load_members(folder, state["members"])
        self.meta_ = load_model(folder / state["meta"])
