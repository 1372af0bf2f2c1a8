"""Errors raised by the model layer; all are :class:`~factory.errors.FactoryError` so the CLI prints one line."""

from __future__ import annotations

from factory.errors import ConfigError, FactoryError


class ModelInputError(FactoryError):
    """Features, labels, weights or an evaluation set a model cannot use (shape, NaN, unknown label...)."""


class NotFittedError(FactoryError):
    """A fitted-only method (predict, save, importances) was called on a model that was never fitted."""


class UnknownModelError(ConfigError):
    """A registry key that no model was registered under."""


class ModelRegistrationError(FactoryError):
    """A model class registered twice under one key, or registered with invalid tags."""


class ModelFileError(FactoryError):
    """A saved model folder is missing, incomplete, or holds a different model than the one asked for."""
