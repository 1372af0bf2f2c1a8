"""Typed settings of the drift daemon: ``mlproject/monitoring.yaml``, then a YAML override file, then flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field, field_validator, model_validator

from factory._config_base import StrictConfig
from factory.errors import ConfigError

MONITORING_FILE = Path(__file__).resolve().parent.parent / "mlproject" / "monitoring.yaml"

# Evidently per-column methods the daemon accepts, and which way each one flags drift: distances drift when the
# score reaches the threshold, p-value tests when the p-value falls below it.
DISTANCE_METHODS = ("wasserstein", "psi", "jensenshannon", "hellinger", "kl_div", "ed")
PVALUE_METHODS = ("ks", "anderson", "cramer_von_mises", "mannw", "t_test", "empirical_mmd")


def parse_duration(text: str) -> pd.Timedelta:
    """``"1h"``, ``"30min"``, ``"1d"`` -> a positive Timedelta (pandas spelling)."""
    try:
        value = pd.Timedelta(str(text).strip())
    except (ValueError, TypeError):
        raise ConfigError(f"'{text}' is not a duration (examples: 30min, 1h, 1d)") from None
    if value <= pd.Timedelta(0):
        raise ConfigError(f"window duration must be positive, got '{text}'")
    return value


class WindowConfig(StrictConfig):
    """Exactly one of ``rows`` (consecutive log rows) or ``time`` (UTC-aligned receive-time intervals)."""

    rows: int | None = Field(5000, ge=10)
    time: str | None = None
    min_rows: int = Field(1000, ge=1)

    @field_validator("time")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.rows is None) == (self.time is None):
            raise ValueError("set exactly one of window.rows and window.time")
        return self

    @property
    def duration(self) -> pd.Timedelta | None:
        return parse_duration(self.time) if self.time else None

    def describe(self) -> str:
        return f"{self.rows} rows" if self.rows else f"{self.time} (min {self.min_rows} rows)"


class DriftConfig(StrictConfig):
    method: str = "wasserstein"
    column_threshold: float = Field(0.75, gt=0)
    share_threshold: float = Field(0.15, ge=0, lt=1)
    exclude_columns: list[str] = Field(default_factory=list)
    # "calibrated": alert when the drift share is above the null_quantile of the shares that in-distribution
    # windows of the same size reach (blocks of the model's held-out training rows); "fixed": above
    # share_threshold. A model logged without held-out rows is watched with share_threshold either way.
    threshold_mode: Literal["calibrated", "fixed"] = "calibrated"
    null_quantile: float = Field(0.99, gt=0.5, lt=1)
    null_blocks: int = Field(200, ge=10, le=10_000)

    @field_validator("method")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in DISTANCE_METHODS + PVALUE_METHODS:
            raise ValueError(f"unknown method '{v}' (one of {', '.join(DISTANCE_METHODS + PVALUE_METHODS)})")
        return v

    @property
    def is_distance(self) -> bool:
        return self.method in DISTANCE_METHODS


class WebhookConfig(StrictConfig):
    url: str | None = None
    timeout_s: float = Field(5.0, gt=0)
    retries: int = Field(3, ge=1)
    backoff_s: float = Field(0.5, ge=0)
    max_backoff_s: float = Field(300.0, ge=0)
    max_pending: int = Field(1000, ge=1)
    drain_timeout_s: float = Field(30.0, ge=0)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must start with http:// or https://, got '{v}'")
        return v or None


class MonitorConfig(StrictConfig):
    poll_interval_s: float = Field(30.0, gt=0)
    settle_s: float = Field(5.0, ge=0)
    window: WindowConfig = WindowConfig()
    drift: DriftConfig = DriftConfig()
    reports: Literal["all", "drift", "none"] = "all"
    experiment: str = "factory-monitoring"
    jsonl: str = "drift/alerts.jsonl"
    state_dir: str = "drift/state"
    report_dir: str = "drift/reports"
    webhook: WebhookConfig = WebhookConfig()
    tracking_backoff_s: float = Field(5.0, gt=0)
    tracking_max_backoff_s: float = Field(300.0, gt=0)


def load_monitor_config(config_file: str | Path | None = None, overrides: dict[str, Any] | None = None,
                        base_file: str | Path | None = MONITORING_FILE) -> MonitorConfig:
    """Defaults file, then ``config_file`` (with or without the ``monitoring:`` key), then ``overrides``.

    ``overrides`` is a nested dict of the same shape; ``None`` values are ignored except inside ``window``, where
    setting one kind clears the other (a ``--window-time`` flag replaces the default row count).
    """
    from factory.config import deep_merge, merge_section_files

    raw, where = merge_section_files((base_file, config_file), "monitoring")
    over = {k: v for k, v in (overrides or {}).items() if v is not None}
    window = {k: v for k, v in (over.pop("window", None) or {}).items() if v is not None}
    if "rows" in window or "time" in window:
        window = {"rows": None, "time": None, **window}
    if window:
        over["window"] = window
    for section in ("drift", "webhook"):
        if isinstance(over.get(section), dict):
            over[section] = {k: v for k, v in over[section].items() if v is not None}
    return MonitorConfig.from_dict(deep_merge(raw, over), where=where)
