"""Small hand-made frames and assertions shared by the data tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Monday 2024-01-08 08:30 Chicago (CST, UTC-6): inside the Globex session, at the US cash open.
MONDAY_CASH_OPEN = "2024-01-08 14:30:00+00:00"


def make_bars(n: int = 20, start: str = MONDAY_CASH_OPEN, freq: str = "1min") -> pd.DataFrame:
    """Valid 1-minute bars: a gentle zig-zag on the MES tick grid."""
    ts = pd.date_range(start, periods=n, freq=freq).as_unit("ns")
    close = 4500.0 + 0.25 * np.arange(n) * np.where(np.arange(n) % 2 == 0, 1, -1)
    open_ = np.r_[4500.0, close[:-1]]
    return pd.DataFrame({
        "timestamp": ts,
        "open": open_,
        "high": np.maximum(open_, close) + 0.5,
        "low": np.minimum(open_, close) - 0.25,
        "close": close,
        "volume": np.arange(n, dtype=float) * 10 + 100,
    })


def issue(issues, check, column=None):
    """The single issue with this check (and column, if given); fails the test otherwise."""
    found = [i for i in issues if i.check == check and (column is None or i.column == column)]
    assert len(found) == 1, f"expected one '{check}' issue for {column}, got {issues}"
    return found[0]
