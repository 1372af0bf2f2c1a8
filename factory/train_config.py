"""The resolved configuration of a train run: pipeline, model and training settings from one optional file.

Config file (``-P config=FILE`` / ``--config FILE``): either a flat mapping of pipeline overrides (the
``-e pipeline`` format) or sections::

    pipeline: {...}        # overrides of mlproject/pipeline.yaml (and of the bar interval's profile;
                           # `profile: 1d` here picks the profile, see factory.profiles)
    model: {...}           # settings of the model being trained (overrides mlproject/models/<key>.yaml)
    models: {<key>: {...}} # per-key settings, so one file serves several models; `model:` wins over it
    training: {calibration: isotonic, reference_rows: 5000}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from factory._config_base import StrictConfig
from factory.errors import ConfigError

SECTIONS = ("pipeline", "model", "models", "training")


class TrainingConfig(StrictConfig):
    """Settings of the train step itself."""

    # Post-hoc calibration fitted on the validation split: "isotonic" or "sigmoid" (Platt).
    calibration: Literal["isotonic", "sigmoid"] = "isotonic"
    # Training rows kept inside the model as the drift monitor's reference sample.
    reference_rows: int = Field(5_000, ge=100)
    # Training rows held out of the reference, in contiguous stretches, from which the drift monitor learns how far
    # in-distribution windows drift (its calibrated alert threshold); 0 logs none (the monitor's fixed threshold).
    null_rows: int = Field(30_000, ge=0)
    null_segments: int = Field(3, ge=1)


@dataclass
class TrainConfig:
    """The resolved configuration of one train run."""

    model_key: str
    pipeline: Any  # PipelineConfig
    model: Any  # the model's typed Config
    training: TrainingConfig
    source: str = "defaults"

    def as_dict(self) -> dict[str, Any]:
        return {"model_key": self.model_key, "pipeline": self.pipeline.model_dump(mode="json"),
                "model": self.model.model_dump(mode="json"), "training": self.training.model_dump(mode="json")}

    def params(self) -> dict[str, Any]:
        """Flat ``section.key -> value`` params for MLflow (lists and dicts as JSON)."""
        out: dict[str, Any] = {"model.key": self.model_key}
        out.update(self.pipeline.flat())
        out.update({f"model.{k}": v for k, v in self.model.model_dump(mode="json").items()})
        out.update({f"training.{k}": v for k, v in self.training.model_dump(mode="json").items()})
        return {k: (json.dumps(v) if isinstance(v, (list, tuple, dict)) else v) for k, v in out.items()}


def load_train_config(model_key: str, config_file: str | None = None, contract: str | None = None,
                      tz: str | None = None, profile=None) -> TrainConfig:
    """Resolve pipeline, model and training settings; see the module docstring for the file format.

    ``profile``: the pipeline profile (a name or a :class:`factory.profiles.ProfileChoice`) below the file.
    """
    from factory.config import resolve_config
    from factory.models import get_model_class

    get_model_class(model_key)  # an unknown key fails first, listing the known ones
    raw, name, sectioned = _read_train_file(config_file)
    # resolve_config reads a `pipeline:` section itself, or the whole file when it has no sections.
    pipeline_file = config_file if (not sectioned or isinstance(raw.get("pipeline"), dict)) else None
    pipeline = resolve_config(contract, pipeline_file, tz, profile=profile)
    model_cfg, training = _model_settings(model_key, raw, name, sectioned)
    return TrainConfig(model_key, pipeline, model_cfg, training, source=name or "defaults")


def load_model_settings(model_key: str, config_file: str | None = None):
    """The model's and the training step's settings alone ``(model config, TrainingConfig)``: what a run can
    check before its bars are read (the pipeline settings wait for the profile the bars choose)."""
    from factory.models import get_model_class

    get_model_class(model_key)
    raw, name, sectioned = _read_train_file(config_file)
    return _model_settings(model_key, raw, name, sectioned)


def _read_train_file(config_file: str | None) -> tuple[dict[str, Any], str, bool]:
    from factory.config import read_yaml

    raw = read_yaml(config_file) if config_file else {}
    name = Path(config_file).name if config_file else ""
    sectioned = any(k in raw for k in SECTIONS)
    if sectioned:
        unknown = sorted(set(raw) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"{name}: unknown top-level key(s) {unknown}; a train config holds the sections "
                              f"{', '.join(SECTIONS)}")
        for key in SECTIONS:
            if raw.get(key) is not None and not isinstance(raw[key], dict):
                raise ConfigError(f"{name}: section '{key}' must be a mapping")
    return raw, name, sectioned


def _model_settings(model_key: str, raw: dict[str, Any], name: str, sectioned: bool):
    from factory.config import deep_merge
    from factory.models import load_model_config

    model_over: dict[str, Any] = {}
    if sectioned:
        per_key = raw.get("models") or {}
        if not all(isinstance(v, dict) for v in per_key.values()):
            raise ConfigError(f"{name}: 'models' maps model keys to mappings of settings")
        model_over = deep_merge(per_key.get(model_key) or {}, raw.get("model") or {})
    try:
        model_cfg = load_model_config(model_key, overrides=model_over)
    except ConfigError as exc:
        raise ConfigError(f"{name or 'model settings'}: {exc}") from None
    training = TrainingConfig.from_dict(raw.get("training") if sectioned else {},
                                        where=f"{name or 'train config'}.training")
    return model_cfg, training
