"""Plain JSON files for model settings and small fitted state (never pickle: a pickle runs code on load)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from factory.models.errors import ModelFileError

META_FILE = "model.json"
FORMAT = "factory-model"
FORMAT_VERSION = 1


def _plain(obj: Any) -> Any:
    """numpy scalars/arrays to Python numbers/lists (json keeps float repr, so values round-trip exactly)."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def write_json(path: str | Path, data: Any) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(_plain(data), indent=1, allow_nan=True))


def read_json(path: str | Path) -> Any:
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"missing model file: {p}")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"model file {p} is not valid JSON: {exc}") from None


def read_meta(folder: str | Path) -> dict[str, Any]:
    """The ``model.json`` of a saved model folder, checked to be one of ours."""
    meta = read_json(Path(folder) / META_FILE)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{Path(folder) / META_FILE} is not a saved factory model")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFileError(
            f"{folder} was saved by a newer format (version {meta['format_version']}, this code reads "
            f"{FORMAT_VERSION})"
        )
    return meta
