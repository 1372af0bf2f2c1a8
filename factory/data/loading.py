"""Bars for a pipeline run: read and validate a file (or generate the embedded default), resample if asked."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from factory.config import PipelineConfig


@dataclass
class LoadedData:
    bars: pd.DataFrame
    source: str
    sha256: str
    warnings: list


def data_calendar(config: PipelineConfig):
    """The exchange calendar of the configured contract, or None when calendar checks are switched off."""
    if not config.data.session_calendar:
        return None
    from factory.contracts import get_contract
    from factory.data.sessions import get_calendar

    return get_calendar(get_contract(config.contract).session)


def load_bars(data: str | None, config: PipelineConfig) -> LoadedData:
    """Read and validate ``data`` (or generate the embedded default), then resample if configured."""
    from factory.data.fingerprint import bars_sha256
    from factory.data.validation import check_bars

    cal = data_calendar(config)
    if data:
        from factory.data.io import read_bars

        bars, warnings = read_bars(data, tz=config.data.tz, gap_factor=config.data.gap_factor, calendar=cal,
                                   return_warnings=True)
        source = str(data)
    else:
        from factory.data.default import DEFAULT_N_BARS, DEFAULT_SEED, default_bars

        bars, warnings = default_bars(), []
        source = f"synthetic MES 1-minute bars (n={DEFAULT_N_BARS}, seed={DEFAULT_SEED})"
    if config.data.resample:
        from factory.data.resample import resample_bars

        bars = resample_bars(bars, config.data.resample, calendar=cal)
        warnings = check_bars(bars, gap_factor=config.data.gap_factor, calendar=cal)
    return LoadedData(bars=bars, source=source, sha256=bars_sha256(bars), warnings=warnings)
