"""Base class for typed configuration objects: unknown keys and wrong types are errors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from factory.errors import ConfigError


class StrictConfig(BaseModel):
    """A pydantic model that rejects unknown keys and is immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, *, where: str = "config"):
        """Build from a plain dict, turning pydantic's errors into one readable :class:`ConfigError`."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            parts = []
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "<root>"
                msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
                parts.append(f"{where}.{loc}: {msg}")
            raise ConfigError("; ".join(parts)) from None
