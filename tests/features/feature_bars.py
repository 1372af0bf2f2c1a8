"""Small synthetic bar sets for the feature tests.

1-minute random-walk bars on the CME Globex schedule (Sunday 17:00 to Friday 16:00 Chicago, daily halt
16:00-17:00), prices on a 0.25 tick grid: so the data has weekend and halt gaps, unchanged closes, bars
without range and zero-volume bars, like real futures data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TICK = 0.25


def globex_minutes(n: int, start: str = "2024-03-03 23:00") -> pd.DatetimeIndex:
    """The first n open minutes (UTC) of the CME Globex equity schedule from ``start`` (UTC) on."""
    out = []
    t0 = pd.Timestamp(start, tz="UTC")
    while sum(len(x) for x in out) < n:
        grid = pd.date_range(t0, periods=max(2 * n, 20_000), freq="1min")
        loc = grid.tz_convert("America/Chicago")
        m = loc.hour * 60 + loc.minute
        dow = loc.dayofweek
        halted = (m >= 16 * 60) & (m < 17 * 60)
        weekend = (dow == 5) | ((dow == 4) & (m >= 16 * 60)) | ((dow == 6) & (m < 17 * 60))
        out.append(grid[~halted & ~weekend])
        t0 = grid[-1] + pd.Timedelta("1min")
    return pd.DatetimeIndex(np.concatenate([x.asi8 for x in out])[:n]).tz_localize("UTC")


def random_walk_bars(
    n: int,
    seed: int = 0,
    start_price: float = 4500.0,
    vol: float = 3e-4,
    timestamps: pd.DatetimeIndex | None = None,
    volume_scale: float = 300.0,
) -> pd.DataFrame:
    """Tick-rounded random-walk OHLCV bars (RangeIndex, UTC timestamps, float64 prices and volume)."""
    rng = np.random.default_rng(seed)
    ts = globex_minutes(n) if timestamps is None else timestamps
    lr = rng.standard_t(5, n) * vol / np.sqrt(5 / 3)
    close = np.round(start_price * np.exp(np.cumsum(lr)) / TICK) * TICK
    open_ = np.empty(n)
    open_[0] = close[0]
    open_[1:] = close[:-1]
    # occasional opening gaps (after halts, news)
    jump = rng.random(n) < 0.01
    open_[jump] = np.round(open_[jump] * np.exp(rng.normal(0, 2 * vol, jump.sum())) / TICK) * TICK
    wick_up = np.floor(np.abs(rng.normal(0, 1.2, n))) * TICK
    wick_dn = np.floor(np.abs(rng.normal(0, 1.2, n))) * TICK
    high = np.maximum(open_, close) + wick_up
    low = np.minimum(open_, close) - wick_dn
    volume = np.floor(rng.exponential(volume_scale, n))
    volume[rng.random(n) < 0.01] = 0.0
    return pd.DataFrame(
        {"timestamp": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
    )


def replace_future(bars: pd.DataFrame, t: int, seed: int, shift_time: bool = False) -> pd.DataFrame:
    """A copy of ``bars`` whose rows after t are a different random walk (different prices, ranges and
    volumes, starting from a different level); with ``shift_time`` the later timestamps also move 97 minutes
    later (a gap that did not happen)."""
    out = bars.copy()
    m = len(bars) - t - 1
    if m <= 0:
        return out
    alt = random_walk_bars(m, seed=seed, start_price=float(bars["close"].iloc[t]) * 1.01, vol=9e-4,
                           timestamps=pd.DatetimeIndex(bars["timestamp"].iloc[t + 1:]), volume_scale=900.0)
    for col in ("open", "high", "low", "close", "volume"):
        out.loc[t + 1:, col] = alt[col].to_numpy()
    if shift_time:
        out.loc[t + 1:, "timestamp"] = bars["timestamp"].iloc[t + 1:] + pd.Timedelta("97min")
    return out
