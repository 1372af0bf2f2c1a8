"""The resolved pipeline configuration: one typed object built from `mlproject/pipeline.yaml` plus overrides.

Unknown keys anywhere are errors (a typo in a config must never be silently ignored).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from factory._config_base import StrictConfig
from factory.data.config import DataConfig
from factory.errors import ConfigError
from factory.evaluation.config import BacktestConfig
from factory.features.config import FeatureConfig
from factory.labels.config import LabelConfig
from factory.regimes.config import RegimeConfig
from factory.validation.config import SplitConfig

PROJECT_DIR = Path(__file__).resolve().parent.parent
PIPELINE_FILE = PROJECT_DIR / "mlproject" / "pipeline.yaml"


class PipelineConfig(StrictConfig):
    contract: str = "MES"
    data: DataConfig = DataConfig()
    features: FeatureConfig = FeatureConfig()
    regimes: RegimeConfig = RegimeConfig()
    labels: LabelConfig = LabelConfig()
    split: SplitConfig = SplitConfig()
    backtest: BacktestConfig = BacktestConfig()

    def flat(self) -> dict[str, Any]:
        """Flattened ``section.key -> value`` view, for MLflow params."""
        out: dict[str, Any] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                out[prefix] = value

        walk("", self.model_dump(mode="json"))
        return out


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``override`` into a copy of ``base`` (override wins; dicts merge, lists replace)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping at the top level, got {type(data).__name__}")
    return data


def merge_section_files(files, section: str) -> tuple[dict[str, Any], str]:
    """Deep-merge the ``section`` of each YAML file in order (a file may hold the section or its bare content).

    Returns the merged dict and a ``where`` label (``<last file name>.<section>``) for error messages.
    """
    raw: dict[str, Any] = {}
    where = section
    for f in files:
        if not f:
            continue
        data = read_yaml(f)
        data = data[section] if isinstance(data.get(section), dict) else data
        raw = deep_merge(raw, data)
        where = f"{Path(f).name}.{section}"
    return raw, where


def _user_overrides(overrides_file: str | Path) -> dict[str, Any]:
    over = read_yaml(overrides_file)
    # A config file written for `-e train` may hold a `pipeline:` section; accept both shapes.
    over = over.get("pipeline", over) if isinstance(over.get("pipeline"), dict) else over
    # `profile:` picks a layer below the file (factory.profiles), it is not a setting of the resolved config.
    return {k: v for k, v in over.items() if k != "profile"}


def load_pipeline_config(
    overrides_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    base_file: str | Path | None = None,
    profile: Any = None,
) -> PipelineConfig:
    """Defaults from ``mlproject/pipeline.yaml``, then a profile, an overrides YAML file, a dict of overrides.

    ``profile`` is a profile name or a :class:`factory.profiles.ProfileChoice` (None: the defaults alone,
    which are the 1-minute profile).
    """
    raw = read_yaml(base_file or PIPELINE_FILE)
    where = str(Path(base_file or PIPELINE_FILE).name)
    if profile is not None:
        from factory.profiles import ProfileChoice, profile_overrides

        layer = profile.overrides() if isinstance(profile, ProfileChoice) else profile_overrides(profile)
        raw = deep_merge(raw, layer)
        where = f"profiles/{getattr(profile, 'name', profile)}.yaml"
    if overrides_file:
        raw = deep_merge(raw, _user_overrides(overrides_file))
        where = str(Path(overrides_file).name)
    if overrides:
        raw = deep_merge(raw, overrides)
    return PipelineConfig.from_dict(raw, where=where)


def _cli_overrides(contract: str | None, tz: str | None, overrides: dict[str, Any] | None) -> dict[str, Any]:
    over: dict[str, Any] = dict(overrides or {})
    if contract:
        over["contract"] = contract.upper()
    if tz:
        over["data"] = {**over.get("data", {}), "tz": tz}
    return over


def resolve_config(contract: str | None = None, config_file: str | None = None, tz: str | None = None,
                   overrides: dict[str, Any] | None = None, profile: Any = None) -> PipelineConfig:
    """The pipeline config of a run: defaults, then ``profile``, ``config_file``, then ``overrides``,
    ``contract`` and ``tz``."""
    return load_pipeline_config(config_file or None, _cli_overrides(contract, tz, overrides), profile=profile)


def reading_config(contract: str | None = None, config_file: str | None = None, tz: str | None = None,
                   overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """What reading the bars needs (contract and ``data``), before a profile is chosen from them.

    The rest of the user's settings is left out here: it may only be valid on top of the profile the data
    will choose (e.g. a ``bar_freq`` of 1h with the 1-hour profile's higher time frames), and it is validated
    in full by :func:`resolve_config` with that profile.
    """
    over = deep_merge(_user_overrides(config_file) if config_file else {}, _cli_overrides(contract, tz, overrides))
    return load_pipeline_config(overrides={k: over[k] for k in ("contract", "data") if k in over})
