"""Per-model settings files: ``mlproject/models/<key>.yaml``, validated by the model's typed ``Config``.

An overrides file may be the flat mapping of settings, or hold them under ``<key>:`` or ``models: {<key>:}``
so that one file can carry the settings of several models. A key the model does not know is an error that
names the model and the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from factory.models.base import ModelConfig
from factory.models.registry import get_model_class

MODELS_CONFIG_DIR = Path(__file__).resolve().parents[2] / "mlproject" / "models"


def _section(raw: dict[str, Any], key: str) -> dict[str, Any]:
    models = raw.get("models")
    if isinstance(models, dict):
        return models.get(key) or {}
    if isinstance(raw.get(key), dict):
        return raw[key]
    return raw


def load_model_config(
    key: str,
    overrides_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    config_dir: str | Path | None = None,
) -> ModelConfig:
    """Typed settings of model ``key``: its YAML defaults, then an overrides file, then a dict of overrides."""
    from factory.config import deep_merge, read_yaml

    cls = get_model_class(key)
    base_file = Path(config_dir or MODELS_CONFIG_DIR) / f"{key}.yaml"
    raw = read_yaml(base_file) if base_file.is_file() else {}
    cls.Config.from_dict(raw, where=f"model '{key}' ({base_file.name})")
    where = f"model '{key}' ({base_file.name})"
    if overrides_file:
        raw = deep_merge(raw, _section(read_yaml(overrides_file), key))
        where = f"model '{key}' ({Path(overrides_file).name})"
    if overrides:
        raw = deep_merge(raw, overrides)
    return cls.Config.from_dict(raw, where=where)


def create_model_from_config(
    key: str, overrides_file: str | Path | None = None, overrides: dict[str, Any] | None = None
):
    """A new model of kind ``key`` with settings from :func:`load_model_config`."""
    return get_model_class(key)(**load_model_config(key, overrides_file, overrides).model_dump(mode="json"))
