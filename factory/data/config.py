"""Settings of data reading and resampling."""

from __future__ import annotations

from pydantic import Field

from factory._config_base import StrictConfig


class DataConfig(StrictConfig):
    # Time zone applied to naive timestamps; None rejects naive timestamps.
    tz: str | None = None
    # Resample the input to this bar frequency first (pandas alias, e.g. "5min"); None keeps the input bars.
    resample: str | None = None
    # Warn about gaps longer than this many median bar intervals (outside known session halts).
    gap_factor: float = Field(5.0, gt=1)
    # Judge gaps and resample against the contract's exchange calendar (CME Globex halts and weekends).
    # Set false for data from other venues (e.g. spot FX or daily equity bars) to check gaps by interval only.
    session_calendar: bool = True
