"""Per-model settings files: ``mlproject/models/<key>.yaml``, validated by the model's typed ``Config``.

An overrides file may be the flat mapping of settings, or hold them under ``<key>:`` or ``models: {<key>:}``
so that one file can carry the settings of several models. A key the model does not know is an error that
names the model and the file.

Profiles: a file may hold ``profiles: {cpu: {...}, full: {...}}`` and ``profile: cpu``; the chosen profile's
settings are applied over the file's own, then the overrides (which may choose another profile:
``model: {profile: full}``). The deep models ship a ``cpu`` default sized for a 2-core machine and the published
settings as ``full``.
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
    over: dict[str, Any] = {}
    source = base_file.name
    if overrides_file:
        over = deep_merge(over, _section(read_yaml(overrides_file), key))
        source = Path(overrides_file).name
    if overrides:
        over = deep_merge(over, overrides)
    # The profile (the overrides' choice, else the file's) sits between the file's settings and the overrides.
    base = _with_profile(raw, over.pop("profile", None), key, base_file.name)
    cls.Config.from_dict(base, where=f"model '{key}' ({base_file.name})")
    return cls.Config.from_dict(deep_merge(base, over), where=f"model '{key}' ({source})")


def _with_profile(raw: dict[str, Any], chosen: str | None, key: str, where: str) -> dict[str, Any]:
    """The file's settings with a profile applied (and the ``profile`` / ``profiles`` keys removed)."""
    from factory.config import deep_merge
    from factory.errors import ConfigError

    raw = dict(raw)
    profiles = raw.pop("profiles", None) or {}
    name = chosen or raw.pop("profile", None)
    raw.pop("profile", None)
    if name is None:
        return raw
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(f"model '{key}' ({where}): unknown profile {name!r}; profiles: {known}")
    return deep_merge(raw, profiles[name] or {})


def create_model_from_config(
    key: str, overrides_file: str | Path | None = None, overrides: dict[str, Any] | None = None
):
    """A new model of kind ``key`` with settings from :func:`load_model_config`."""
    return get_model_class(key)(**load_model_config(key, overrides_file, overrides).model_dump(mode="json"))
