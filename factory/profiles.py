"""Pipeline profiles per bar interval: window lengths, horizons, purge and embargo sized to the data's bars.

`mlproject/pipeline.yaml` counts every window in bars and is sized for 1-minute futures bars (an embargo of
2,000 bars, 15/60-minute higher time frames). On daily or hourly bars those lengths are days or weeks of
history and leave no room for validation and test splits, so each bar interval has a profile:
``mlproject/profiles/<name>.yaml`` holds only the keys that differ from the defaults and is merged between
them and the user's config (defaults < profile < config file < flags). The 1-minute profile is empty: the
defaults *are* the 1-minute settings, so a 1-minute run resolves to exactly what it did before profiles.

Profiles are YAML files rather than Python so that they read like the defaults they adjust and a user can
copy one as the starting point of a config file; they pass through the same typed, strict
:class:`~factory.config.PipelineConfig` validation as every other layer (an unknown key is an error).

The profile is chosen from the data's **median** bar interval (weekend and holiday gaps would drag a mean
upwards), as the nearest profile on a log scale (30-minute bars are nearer to 1 hour than to 5 minutes);
``--profile`` / ``-P profile=`` or a top-level ``profile:`` key of the config file overrides the choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory.errors import ConfigError

PROFILES_DIR = Path(__file__).resolve().parent.parent / "mlproject" / "profiles"
# The bar interval each profile is sized for (its features.bar_freq).
PROFILE_INTERVALS: dict[str, pd.Timedelta] = {
    "1min": pd.Timedelta("1min"),
    "5min": pd.Timedelta("5min"),
    "1h": pd.Timedelta("1h"),
    "1d": pd.Timedelta("1D"),
}
AUTO = "auto"
# A profile sizes windows and gaps only; the contract, reading options and backtest rules are not the
# interval's business (a profile that switched the contract would silently change the costs).
PROFILE_SECTIONS = ("features", "regimes", "labels", "split")


def profile_names() -> list[str]:
    return list(PROFILE_INTERVALS)


def check_profile_name(name: str) -> str:
    """``name`` normalised (lower case), or a ConfigError listing the known profiles."""
    key = str(name).strip().lower()
    if key != AUTO and key not in PROFILE_INTERVALS:
        raise ConfigError(f"unknown pipeline profile {name!r}; known profiles: {', '.join(profile_names())} "
                          f"(or '{AUTO}': chosen from the data's median bar interval)")
    return key


def profile_overrides(name: str) -> dict[str, Any]:
    """The keys profile ``name`` sets on top of ``mlproject/pipeline.yaml``."""
    from factory.config import read_yaml

    key = check_profile_name(name)
    if key == AUTO:
        raise ConfigError("profile 'auto' is resolved from the data; pass the bars to choose a profile")
    path = PROFILES_DIR / f"{key}.yaml"
    raw = read_yaml(path)
    extra = sorted(set(raw) - set(PROFILE_SECTIONS))
    if extra:
        raise ConfigError(f"{path.name}: a profile may set only {', '.join(PROFILE_SECTIONS)}; got {extra}")
    return raw


def median_interval(timestamps) -> pd.Timedelta | None:
    """Median spacing of consecutive timestamps (None with fewer than two)."""
    ts = pd.DatetimeIndex(pd.to_datetime(pd.Series(timestamps)))
    if len(ts) < 2:
        return None
    steps = np.diff(ts.asi8)
    steps = steps[steps > 0]
    if not len(steps):
        return None
    return pd.Timedelta(int(np.median(steps)), unit="ns")


def nearest_profile(interval: pd.Timedelta) -> str:
    """The profile whose bar interval is nearest to ``interval`` on a log scale (ratios, not differences)."""
    if interval <= pd.Timedelta(0):
        raise ConfigError(f"bar interval must be positive, got {interval}")
    x = math.log(interval / pd.Timedelta("1s"))
    return min(PROFILE_INTERVALS, key=lambda k: abs(math.log(PROFILE_INTERVALS[k] / pd.Timedelta("1s")) - x))


def describe_interval(td: pd.Timedelta | None) -> str:
    """``1 day``, ``4 hours``, ``5 minutes``, ``90 seconds``: the largest whole unit."""
    if td is None:
        return "unknown"
    seconds = td.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return str(td)


@dataclass(frozen=True)
class ProfileChoice:
    """The profile of a run and why: ``source`` is 'auto', '--profile' or the config file's name."""

    name: str
    median: pd.Timedelta | None
    source: str = AUTO

    def overrides(self) -> dict[str, Any]:
        """The profile's keys, with ``features.bar_freq`` lowered to the data's median interval when the bars
        are finer than the profile's (30-minute bars run on the 1-hour profile: its windows fit, but bars
        closer than ``bar_freq`` are an error of the higher-time-frame features)."""
        raw = profile_overrides(self.name)
        if self.median is not None and self.median < PROFILE_INTERVALS[self.name]:
            features = dict(raw.get("features") or {})
            secs = self.median.total_seconds()
            features["bar_freq"] = f"{int(secs)}s" if secs == int(secs) and secs >= 1 else f"{self.median.value}ns"
            raw = {**raw, "features": features}
        return raw

    def line(self) -> str:
        """What the train and pipeline commands print, e.g. ``profile: 1d (median bar interval 1 day)``."""
        why = "" if self.source == AUTO else f"set by {self.source}; "
        return f"profile: {self.name} ({why}median bar interval {describe_interval(self.median)})"


def choose_profile(timestamps, requested: str | None = None, source: str = "--profile") -> ProfileChoice:
    """The profile for bars with these timestamps: ``requested`` unless it is None/'auto', else the nearest."""
    median = median_interval(timestamps)
    key = check_profile_name(requested) if requested else AUTO
    if key != AUTO:
        return ProfileChoice(key, median, source)
    if median is None:
        raise ConfigError("cannot choose a pipeline profile from fewer than two distinct timestamps; "
                          f"pass --profile ({', '.join(profile_names())})")
    return ProfileChoice(nearest_profile(median), median, AUTO)


def config_profile(config_file: str | None) -> str | None:
    """The top-level ``profile:`` key of a config file (or of its ``pipeline:`` section), if any."""
    from factory.config import read_yaml

    if not config_file:
        return None
    raw = read_yaml(config_file)
    if isinstance(raw.get("pipeline"), dict):
        raw = raw["pipeline"]
    value = raw.get("profile")
    return None if value is None else check_profile_name(value)


def precheck_config(contract=None, config_file=None, tz=None, overrides=None, requested: str | None = None) -> None:
    """Fail before any data is read when the user's config is invalid on top of every profile it may get.

    With ``requested`` a profile, that one; with auto, a config valid on any profile passes (it is checked
    again, in full, on the profile the data chooses) and one valid on none fails with its error on the
    1-minute defaults.
    """
    from factory.config import resolve_config

    key = check_profile_name(requested) if requested else AUTO
    candidates = [key] if key != AUTO else profile_names()
    first: ConfigError | None = None
    for name in candidates:
        try:
            resolve_config(contract, config_file, tz, overrides, profile=name)
            return
        except ConfigError as exc:
            first = first or exc
    raise first


def load_profiled_bars(data: str | None, contract: str | None = None, config_file: str | None = None,
                       tz: str | None = None, overrides: dict[str, Any] | None = None,
                       profile: str | None = None):
    """Read the bars with the reading settings of the run, then choose its profile from them.

    Only ``contract`` and ``data`` (time zone, calendar switch, resampling) are needed to read the bars, and no
    profile changes them, so they are resolved first; the full config is resolved with the chosen profile
    afterwards (``resolve_config(..., profile=choice)``). A ``--profile`` flag wins over the config file's
    ``profile:`` key, which wins over the data's own interval. Returns ``(LoadedData, ProfileChoice)``.
    """
    from factory.config import reading_config
    from factory.data.loading import load_bars

    if profile:
        requested, source = check_profile_name(profile), "--profile"
    else:
        requested, source = config_profile(config_file), Path(config_file).name if config_file else AUTO
    precheck_config(contract, config_file, tz, overrides, requested)
    loaded = load_bars(data, reading_config(contract, config_file, tz, overrides))
    return loaded, choose_profile(loaded.bars["timestamp"], requested, source)


def profile_params(choice: ProfileChoice) -> dict[str, Any]:
    """MLflow params of the profile choice (the resolved settings themselves are logged as usual)."""
    return {"pipeline.profile": choice.name, "pipeline.profile_source": choice.source,
            "data.median_bar_interval": describe_interval(choice.median)}


def profile_tags(choice: ProfileChoice) -> dict[str, str]:
    return {"pipeline.profile": choice.name}
