"""Member handling shared by the ensembles: settings checks, creation through the registry, sub-folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from factory.errors import ConfigError
from factory.models.base import FactoryModel, ModelConfig
from factory.models.registry import get_model_class, load_model

MEMBERS_DIR = "members"


class EnsembleConfig(ModelConfig):
    members: list[str] = Field(default_factory=lambda: ["xgboost", "lightgbm", "logistic"], min_length=1)
    # Settings per member key; a member without an entry uses its code defaults. A member's `seed` defaults
    # to the ensemble's seed so one number fixes the whole ensemble.
    member_params: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _members_unique(self):
        if len(set(self.members)) != len(self.members):
            raise ValueError("members must not repeat a key")
        unknown = sorted(set(self.member_params) - set(self.members))
        if unknown:
            raise ValueError(f"member_params for keys that are not members: {unknown}")
        return self


def check_member_settings(owner: str, keys: list[str], params: dict[str, dict[str, Any]]) -> None:
    """Validate member keys and settings at construction, so a typo fails before any training."""
    for key in keys:
        cls = get_model_class(key)
        if cls.input_kind != "tabular":
            raise ConfigError(f"{owner}: member '{key}' takes '{cls.input_kind}' input; members must be tabular")
        cls.Config.from_dict(params.get(key, {}), where=f"{owner}.member_params.{key}")


def new_member(key: str, params: dict[str, dict[str, Any]], seed: int) -> FactoryModel:
    from factory.models.registry import create_model

    return create_model(key, **{"seed": seed, **params.get(key, {})})


def with_names(X: np.ndarray, names: list[str] | None):
    """Members get the feature names too, so their importances are reported by name."""
    if names is None:
        return X
    import pandas as pd

    return pd.DataFrame(X, columns=names, copy=False)


def labels(y_idx: np.ndarray) -> np.ndarray:
    """Class indices back to the public labels -1, 0, 1 (members are fitted through their public API)."""
    return y_idx - 1


def eval_for_member(eval_set, names: list[str] | None) -> tuple | None:
    if eval_set is None:
        return None
    Xv, yv, wv = eval_set
    Xv = with_names(Xv, names)
    return (Xv, labels(yv)) if wv is None else (Xv, labels(yv), wv)


def member_dir(folder: Path, i: int, key: str) -> Path:
    return folder / MEMBERS_DIR / f"{i:02d}_{key}"


def save_members(folder: Path, members: list[FactoryModel]) -> list[str]:
    out = []
    for i, m in enumerate(members):
        sub = member_dir(folder, i, m.key)
        m.save(sub)
        out.append(str(sub.relative_to(folder).as_posix()))
    return out


def load_members(folder: Path, rel_paths: list[str]) -> list[FactoryModel]:
    return [load_model(folder / p) for p in rel_paths]


def member_import_names(keys: list[str]) -> set[str]:
    """Import names the members of these keys need when served."""
    out: set[str] = set()
    for key in keys:
        out |= set(get_model_class(key).requirements)
    return out


def fitted_parts(model: FactoryModel) -> list[FactoryModel]:
    """The fitted members (and meta-learner) of an ensemble; empty before fit."""
    parts = list(getattr(model, "members_", None) or [])
    meta = getattr(model, "meta_", None)
    return parts + ([meta] if meta is not None else [])


def set_parts_threads(model: FactoryModel, n: int) -> list[str]:
    changed: list[str] = []
    for part in fitted_parts(model):
        changed += part.set_predict_threads(n)
    return changed
