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


def load_pipeline_config(
    overrides_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    base_file: str | Path | None = None,
) -> PipelineConfig:
    """Defaults from ``mlproject/pipeline.yaml``, then an overrides YAML file, then a dict of overrides."""
    raw = read_yaml(base_file or PIPELINE_FILE)
    where = str(Path(base_file or PIPELINE_FILE).name)
    if overrides_file:
        over = read_yaml(overrides_file)
        # A config file written for `-e train` may hold a `pipeline:` section; accept both shapes.
        over = over.get("pipeline", over) if isinstance(over.get("pipeline"), dict) else over
        raw = deep_merge(raw, over)
        where = str(Path(overrides_file).name)
    if overrides:
        raw = deep_merge(raw, overrides)
    return PipelineConfig.from_dict(raw, where=where)


def resolve_config(contract: str | None = None, config_file: str | None = None, tz: str | None = None,
                   overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """The pipeline config of a run: defaults, then ``config_file``, then ``overrides``, ``contract`` and ``tz``."""
    over: dict[str, Any] = dict(overrides or {})
    if contract:
        over["contract"] = contract.upper()
    if tz:
        over.setdefault("data", {})["tz"] = tz
    return load_pipeline_config(config_file or None, over)
