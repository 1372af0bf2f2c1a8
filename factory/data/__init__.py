"""Raw bars in, clean bars out: reading, validation, the CME session calendar, resampling and synthetic data.

All modules here are light (NumPy, pandas, pyarrow, numba), so importing the package is cheap.
"""

from factory.data.default import DEFAULT_N_BARS, DEFAULT_SEED, default_bars
from factory.data.io import read_bars, read_ticks, validate_file, write_bars, write_ticks
from factory.data.resample import dollar_bars, resample_bars, resample_ticks, volume_bars
from factory.data.sessions import SessionCalendar, calendar_for_contract, get_calendar
from factory.data.synth import REGIME_NAMES, generate_bars, synth_to_file
from factory.data.timestamps import parse_timestamps
from factory.data.validation import (
    BAR_COLUMNS,
    TICK_COLUMNS,
    check_bars,
    check_ticks,
    validate_bars,
    validate_ticks,
)

__all__ = [
    "BAR_COLUMNS", "TICK_COLUMNS", "DEFAULT_N_BARS", "DEFAULT_SEED", "REGIME_NAMES", "SessionCalendar",
    "calendar_for_contract", "check_bars", "check_ticks", "default_bars", "dollar_bars", "generate_bars",
    "get_calendar", "parse_timestamps", "read_bars", "read_ticks", "resample_bars", "resample_ticks",
    "synth_to_file", "validate_bars", "validate_file", "validate_ticks", "volume_bars", "write_bars", "write_ticks",
]
