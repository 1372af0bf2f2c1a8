"""Which model is being served: registered name and version, run id, model id (read once, at load time).

A pyfunc's ``load_context`` only receives its artifacts' local paths; the model folder that holds them also
holds ``MLmodel`` (run id, model id, the ``metadata`` block, where the train step records ``registered_name``)
and, for a model loaded through ``models:/``, ``registered_model_meta`` (name and version in the registry).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

MLMODEL = "MLmodel"
REGISTERED_META = "registered_model_meta"


@dataclass(frozen=True)
class ModelIdentity:
    """What the inference log and its readers need to know about the served model."""

    registered_name: str | None = None
    version: str | None = None
    run_id: str | None = None
    model_uuid: str | None = None

    @property
    def log_name(self) -> str:
        """The inference-log folder name: the registered name, else the run id, else the model id."""
        return self.registered_name or self.run_id or self.model_uuid or "unregistered"

    def as_metadata(self) -> dict[str, str | None]:
        return {"model_name": self.registered_name, "model_version": self.version, "run_id": self.run_id,
                "model_uuid": self.model_uuid}


def model_root(artifact_path: str | Path, max_up: int = 4) -> Path | None:
    """The model folder above an artifact path (the first parent holding ``MLmodel``)."""
    p = Path(artifact_path).resolve()
    for parent in list(p.parents)[:max_up]:
        if (parent / MLMODEL).is_file():
            return parent
    return None


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def identify(artifacts: dict[str, str]) -> ModelIdentity:
    """Identity of the model whose artifacts are ``artifacts`` (unknown parts stay ``None``)."""
    root = next((r for r in (model_root(p) for p in artifacts.values()) if r is not None), None)
    if root is None:
        return ModelIdentity()
    mlmodel = _read_yaml(root / MLMODEL)
    meta = mlmodel.get("metadata") or {}
    registry = _read_yaml(root / REGISTERED_META)
    name = meta.get("registered_name") or registry.get("model_name")
    # The version only belongs to the name the registry file records.
    version = registry.get("model_version") if registry.get("model_name") == name else None
    return ModelIdentity(
        registered_name=str(name) if name else None,
        version=str(version) if version is not None else None,
        run_id=mlmodel.get("run_id") or None,
        model_uuid=mlmodel.get("model_uuid") or None,
    )
