"""Triple-barrier labels with ATR-scaled, cost-aware horizontal barriers.

For every bar t the position is entered at ``E_t``: the NEXT bar's open ``O_{t+1}`` by default
(``entry="next_open"``: a signal known at bar t's close cannot trade before the next bar, and the backtest fills
it there, so what a model learns is what is traded), or bar t's own close ``C_t`` (``entry="close"``, the
textbook variant, for comparison):

    ATR_t  = Wilder ATR over ``atr_window`` bars at t, in price points (causal: bars <= t)
    c_t    = cost_in_atr = round_trip_points / ATR_t = round_trip_usd / (ATR_t * point_value)
             e.g. MES, $7.50 round trip, ATR = 10 points = $50  ->  c_t = 0.15
    U_t    = E_t + (k_up   + c_t) * ATR_t        (= E_t + k_up * ATR_t + round_trip_points)
    L_t    = E_t - (k_down + c_t) * ATR_t        (= E_t - k_down * ATR_t - round_trip_points)
    vertical barrier: bar t + horizon

Bars j = t+1 .. t+horizon are scanned in order (with a next-open entry, bar t+1's high and low come after the
fill at its open); the first bar that touches a barrier decides:

    path="high_low":  up_j = H_j >= U_t,  down_j = L_j <= L_t   (intrabar extremes)
    path="close":     up_j = C_j >= U_t,  down_j = C_j <= L_t
    up_j and not down_j   ->  label +1, t1 = j   (a long entered at E_t clears k_up*ATR_t net of the round trip)
    down_j and not up_j   ->  label -1, t1 = j   (a short clears k_down*ATR_t net of the round trip)
    up_j and down_j       ->  label  0, t1 = j   (ambiguous: one bar spans both barriers and OHLC bars cannot
                                                  tell which came first, so no side is credited; conservative)
    no touch by t+horizon ->  label  0, t1 = t + horizon

A row is invalid (label NaN, t1 = -1, t1_time NaT, ret_t1 NaN) when its horizon runs past the data
(``t + horizon > n - 1``) or its ATR is missing or not positive (warm-up). Returns:

    ret    = log(C_{t+horizon} / E_t)   (NaN when t + horizon > n - 1)
    ret_t1 = log(C_{t1} / E_t)          (the return realised at the first touch / vertical barrier)

The label at t therefore depends on bars <= t + horizon only: the ATR is a recursive average of earlier bars,
the entry is at most one bar ahead, and the scan looks forward at most ``horizon`` bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from factory.contracts import CostModel
from factory.errors import ConfigError
from factory.features.indicators import atr as wilder_atr
from factory.labels.barriers import barrier_levels

LABEL_COLUMNS = ["label", "t1", "t1_time", "ret", "ret_t1", "atr", "cost_in_atr", "upper", "lower"]
_PATHS = {"high_low": 0, "close": 1}
ENTRIES = ("next_open", "close")


@njit(cache=True)
def _scan(hi, lo, upper, lower, valid, horizon, label, t1):  # pragma: no cover - compiled
    """First-touch scan; fills ``label`` (NaN for invalid rows) and ``t1`` (-1 for invalid rows) in place.

    ``hi``/``lo`` are the series compared with the upper/lower barrier (highs/lows, or closes twice).
    O(n * horizon) in the worst case, with an early exit at the first touch.
    """
    n = hi.shape[0]
    for t in range(n):
        if not valid[t]:
            label[t] = np.nan
            t1[t] = -1
            continue
        u = upper[t]
        d = lower[t]
        lab = 0.0
        end = t + horizon
        for j in range(t + 1, t + horizon + 1):
            up = hi[j] >= u
            dn = lo[j] <= d
            if up or dn:
                if up and not dn:
                    lab = 1.0
                elif dn and not up:
                    lab = -1.0
                end = j
                break
        label[t] = lab
        t1[t] = end


def triple_barrier_labels(
    bars: pd.DataFrame,
    k_up: float,
    k_down: float,
    horizon: int,
    cost_model: CostModel | None = None,
    atr_window: int = 14,
    path: str = "high_low",
    atr: np.ndarray | None = None,
    entry: str = "next_open",
) -> pd.DataFrame:
    """Label every bar with the cost-aware triple barrier described in the module docstring.

    ``entry`` is ``"next_open"`` (``E_t = O_{t+1}``) or ``"close"`` (``E_t = C_t``). ``cost_model=None`` means zero cost (``c_t = 0``). ``atr`` (price points, aligned on ``bars``) overrides
    the Wilder ATR computed from the bars. Returns a DataFrame on the bars' index with columns
    ``label`` (float -1/0/1, NaN invalid), ``t1`` (int64 row, -1 invalid), ``t1_time``, ``ret``, ``ret_t1``,
    ``atr``, ``cost_in_atr``, ``upper``, ``lower``.
    """
    if not (k_up > 0 and k_down > 0):
        raise ConfigError(f"k_up and k_down must be > 0, got {k_up}, {k_down}")
    horizon = int(horizon)
    if horizon < 1:
        raise ConfigError(f"horizon must be >= 1, got {horizon}")
    if path not in _PATHS:
        raise ConfigError(f"path must be one of {sorted(_PATHS)}, got {path!r}")
    if entry not in ENTRIES:
        raise ConfigError(f"entry must be one of {list(ENTRIES)}, got {entry!r}")
    close = bars["close"].to_numpy(np.float64)
    high = bars["high"].to_numpy(np.float64)
    low = bars["low"].to_numpy(np.float64)
    n = close.shape[0]
    if atr is None:
        atr_pts = wilder_atr(high, low, close, atr_window) if n else np.empty(0)
    else:
        atr_pts = np.asarray(atr, dtype=np.float64)
        if atr_pts.shape != (n,):
            raise ConfigError(f"atr must have shape ({n},), got {atr_pts.shape}")
    cm = cost_model if cost_model is not None else CostModel.zero()
    price = entry_prices(bars, entry)

    ok_atr = np.isfinite(atr_pts) & (atr_pts > 0)
    # The one definition of the barrier levels (models that price the barriers read the same function).
    cost, upper, lower = barrier_levels(price, atr_pts, k_up, k_down, cm.round_trip_points)
    valid = ok_atr & (np.arange(n) + horizon <= n - 1) & np.isfinite(price)

    label = np.empty(n)
    t1 = np.empty(n, dtype=np.int64)
    if path == "high_low":
        _scan(high, low, upper, lower, valid, horizon, label, t1)
    else:
        _scan(close, close, upper, lower, valid, horizon, label, t1)

    ret = np.full(n, np.nan)
    if n > horizon:
        ret[: n - horizon] = np.log(close[horizon:] / price[: n - horizon])
    ret_t1 = np.full(n, np.nan)
    ret_t1[valid] = np.log(close[t1[valid]] / price[valid])

    if "timestamp" in bars.columns:
        stamps = pd.DatetimeIndex(bars["timestamp"])
        t1_time = stamps.take(np.where(valid, t1, 0)).where(valid)  # NaT on invalid rows
    else:
        t1_time = pd.DatetimeIndex(np.full(n, np.datetime64("NaT", "ns")), tz="UTC")

    return pd.DataFrame(
        {
            "label": label,
            "t1": t1,
            "t1_time": t1_time,
            "ret": ret,
            "ret_t1": ret_t1,
            "atr": atr_pts,
            "cost_in_atr": cost,
            "upper": upper,
            "lower": lower,
        },
        index=bars.index,
        copy=False,  # no block consolidation: copying 9 x n values would cost more than the scan itself
    )


def entry_prices(bars: pd.DataFrame, entry: str = "next_open") -> np.ndarray:
    """The entry price ``E_t`` of a position signalled at every bar: ``O_{t+1}`` (NaN at the last bar) or ``C_t``.

    The backtest fills a signal at the same price (``factory.evaluation.backtest``; a test checks they agree).
    """
    if entry == "close":
        return bars["close"].to_numpy(np.float64)
    opens = bars["open"].to_numpy(np.float64)
    out = np.full(opens.shape[0], np.nan)
    out[:-1] = opens[1:]
    return out


def labels_from_config(bars: pd.DataFrame, config, cost_model: CostModel | None = None,
                       atr: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`triple_barrier_labels` with the widths, horizon, ATR window and path of a ``LabelConfig``.

    ``config.include_costs=False`` drops the cost term (``c_t = 0``) whatever ``cost_model`` is.
    """
    return triple_barrier_labels(
        bars,
        k_up=config.k_up,
        k_down=config.k_down,
        horizon=config.horizon,
        cost_model=cost_model if config.include_costs else None,
        atr_window=config.atr_window,
        path=config.path,
        atr=atr,
        entry=config.entry,
    )
