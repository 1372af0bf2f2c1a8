"""The model registry: one key per model class, looked up by configuration and by saved model folders.

Models register themselves with a decorator in their own module::

    @register_model("lightgbm", family="boosting")
    class LightGBMModel(FactoryModel): ...

and ``factory/models/__init__.py`` imports each module once, which is what fills the registry. Registering
never imports a heavy framework: model modules import theirs inside methods. A model registered by a module the
package does not import (test-only models, plugins) still loads from a saved folder: ``model.json`` names its
class, and :func:`load_model` imports that module first (only modules inside the ``factory`` package).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from factory.models import _io
from factory.models.base import FactoryModel
from factory.models.errors import ModelFileError, ModelRegistrationError, UnknownModelError
from factory.models.views import INPUT_KINDS
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_REGISTRY: dict[str, type[FactoryModel]] = {}


def register_model(
    key: str,
    *,
    family: str,
    input_kind: str | None = None,
    is_production_safe: bool | None = None,
    needs_gpu: bool | None = None,
):
    """Class decorator: register ``cls`` under ``key`` and set its tags (unset tags keep the class values)."""

    def decorate(cls: type[FactoryModel]) -> type[FactoryModel]:
        if not (isinstance(cls, type) and issubclass(cls, FactoryModel)):
            raise ModelRegistrationError(f"'{key}': only FactoryModel subclasses can be registered, got {cls!r}")
        if not _KEY.match(key):
            raise ModelRegistrationError(f"model key '{key}' must be lower-case letters, digits and '_'")
        if key in _REGISTRY:
            raise ModelRegistrationError(
                f"model key '{key}' is already registered by {_REGISTRY[key].__module__}.{_REGISTRY[key].__name__}"
            )
        kind = input_kind if input_kind is not None else cls.input_kind
        if kind not in INPUT_KINDS:
            raise ModelRegistrationError(f"'{key}': input_kind must be one of {INPUT_KINDS}, got {kind!r}")
        cls.key = key
        cls.family = family
        cls.input_kind = kind
        if is_production_safe is not None:
            cls.is_production_safe = bool(is_production_safe)
        if needs_gpu is not None:
            cls.needs_gpu = bool(needs_gpu)
        _REGISTRY[key] = cls
        return cls

    return decorate


def get_model_class(key: str) -> type[FactoryModel]:
    """The class registered under ``key``; an unknown key lists the known ones."""
    try:
        return _REGISTRY[key]
    except KeyError:
        raise UnknownModelError(f"unknown model '{key}'; known models: {', '.join(list_models())}") from None


def list_models(*, input_kind: str | None = None, needs_gpu: bool | None = None) -> list[str]:
    """Registered keys, sorted, optionally filtered by input kind or GPU need."""
    return sorted(
        k
        for k, c in _REGISTRY.items()
        if (input_kind is None or c.input_kind == input_kind) and (needs_gpu is None or c.needs_gpu == needs_gpu)
    )


def create_model(key: str, **settings: Any) -> FactoryModel:
    """A new, unfitted model of kind ``key`` built from keyword settings."""
    return get_model_class(key)(**settings)


def load_model(folder: str | Path) -> FactoryModel:
    """Rebuild any saved model; its class is found from the key in ``model.json``."""
    meta = _io.read_meta(Path(folder))
    key = meta.get("key", "")
    if key not in _REGISTRY:
        _import_defining_module(meta.get("class", ""), key, folder)
    return get_model_class(key).load(folder)


def _import_defining_module(qualname: str, key: str, folder) -> None:
    import importlib

    module = qualname.rpartition(".")[0]
    if not module.startswith("factory."):
        raise ModelFileError(f"{folder} holds model '{key}' of class {qualname!r}, which is not registered and "
                             "not part of the factory package")
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ModelFileError(f"{folder} holds model '{key}' from module {module!r}, which cannot be imported "
                             f"({exc})") from None


def model_info() -> list[dict[str, Any]]:
    """One row per registered model: key, family, input kind, production-safe, needs GPU."""
    return [
        {
            "key": k,
            "family": c.family,
            "input_kind": c.input_kind,
            "production_safe": c.is_production_safe,
            "needs_gpu": c.needs_gpu,
        }
        for k, c in ((k, _REGISTRY[k]) for k in list_models())
    ]
