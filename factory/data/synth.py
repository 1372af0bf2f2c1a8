"""Synthetic 1-minute futures bars with hidden regimes, for tests, demos and the embedded default data set.

The bars look like CME Globex micro futures (MES by default, MGC supported):

* timestamps only while the market is open (Sunday 17:00 to Friday 16:00 Chicago, daily halt 16:00-17:00; holidays
  are not modelled), one bar per minute;
* prices on the contract's tick grid at a realistic level (about 4500 for MES, 2000 for MGC) with consistent OHLC;
* intraday seasonality: volatility and volume follow a U-shape over the US cash session (08:30-15:00 Chicago), are
  lower in the European morning and lowest overnight;
* a hidden regime process with four states (:data:`REGIME_NAMES`) that persist for hundreds to thousands of bars:

  ====  ========================  ==========================================================================
  id    name                      behaviour
  ====  ========================  ==========================================================================
  0     calm_trending             low volatility, a steady drift (up or down per episode), momentum
  1     calm_mean_reverting       low volatility, no drift, negative autocorrelation, pull to the episode start
  2     volatile_trending         ~2.7x volatility, stronger drift, momentum, heavier volume
  3     volatile_mean_reverting   ~2.7x volatility, negative autocorrelation and mean reversion, heavy volume
  ====  ========================  ==========================================================================

  Episodes last a minimum number of bars plus a geometric tail (a semi-Markov chain): the jump chain between
  states is Markov, the durations are long enough that a regime model has something persistent to find.

The generator is vectorised except for one compiled loop for the price recursion (autocorrelation and mean reversion
depend on the previous bar). Each random stream has its own child seed, so the output is a pure function of
``(n_bars, seed, contract, start)`` and a longer series extends a shorter one with the same seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from factory.contracts import get_contract
from factory.errors import ConfigError

REGIME_NAMES = ("calm_trending", "calm_mean_reverting", "volatile_trending", "volatile_mean_reverting")

SESSION_MINUTES = 23 * 60
# Minutes from the 17:00 Chicago open to the US cash open (08:30) and close (15:00), and to the European morning.
_EUROPE, _CASH_OPEN, _CASH_CLOSE = 9 * 60, 15 * 60 + 30, 22 * 60

_LEVELS = {"MES": 4500.0, "MGC": 2000.0}
_BASE_VOLUME = {"MES": 700.0, "MGC": 120.0}

# Per-regime parameters (index = regime id): per-minute log-return volatility, drift in units of volatility,
# lag-1 autocorrelation of returns, pull towards the episode's starting price per bar, volume factor.
_VOL = np.array([2.2e-4, 2.2e-4, 6.0e-4, 6.0e-4])
_DRIFT = np.array([0.03, 0.0, 0.025, 0.0])
_PHI = np.array([0.10, -0.12, 0.08, -0.15])
_KAPPA = np.array([0.0, 0.004, 0.0, 0.006])
_VOLUME_FACTOR = np.array([0.85, 0.85, 1.7, 1.7])
# Episode length = minimum + geometric tail with this mean (bars).
_MIN_DURATION = np.array([400, 400, 200, 200])
_MEAN_EXTRA = np.array([2200.0, 2200.0, 800.0, 800.0])
# Where an episode goes next (rows sum to 1, no self-transitions).
_JUMP = np.array([
    [0.00, 0.45, 0.35, 0.20],
    [0.45, 0.00, 0.20, 0.35],
    [0.35, 0.25, 0.00, 0.40],
    [0.25, 0.35, 0.40, 0.00],
])
# Weak pull of the log price towards its starting level keeps million-bar series near a realistic level.
_GLOBAL_PULL = 1e-5


def _seasonality(minute: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(volatility, volume) multipliers by minute since the session open, each averaging 1 over a full session."""
    m = np.arange(SESSION_MINUTES, dtype=np.float64)
    vol = np.where(m < _EUROPE, 0.45 + 0.35 * np.exp(-m / 20.0), 0.65)
    x = m - _CASH_OPEN
    cash = (m >= _CASH_OPEN) & (m < _CASH_CLOSE)
    u_shape = 0.9 + 1.4 * np.exp(-x / 25.0) + 0.7 * np.exp(-(_CASH_CLOSE - 1 - m) / 20.0)
    vol = np.where(cash, u_shape, vol)
    vol = np.where(m >= _CASH_CLOSE, 0.6, vol)
    volume = vol ** 1.8
    vol, volume = vol / vol.mean(), volume / volume.mean()
    return vol[minute], volume[minute]


def _regime_path(n: int, rng: np.random.Generator) -> np.ndarray:
    """State id per bar from the semi-Markov episode chain (a loop over episodes, not over bars)."""
    states, lengths, total = [], [], 0
    state = int(rng.integers(4))
    while total < n:
        length = int(_MIN_DURATION[state] + rng.geometric(1.0 / _MEAN_EXTRA[state]))
        states.append(state)
        lengths.append(length)
        total += length
        state = int(rng.choice(4, p=_JUMP[state]))
    return np.repeat(np.array(states, dtype=np.int64), lengths)[:n]


@njit(cache=True)
def _log_price_path(eps, sigma, drift_sign, state, phi, kappa, drift, pull):
    """Log price relative to the start level; compiled because each return depends on the previous one."""
    n = eps.shape[0]
    x = np.empty(n)
    prev_x = 0.0
    prev_r = 0.0
    anchor = 0.0
    for t in range(n):
        s = state[t]
        if t == 0 or s != state[t - 1]:
            anchor = prev_x
            prev_r = 0.0
        r = (drift[s] * drift_sign[t] * sigma[t] + phi[s] * prev_r - kappa[s] * (prev_x - anchor)
             - pull * prev_x + sigma[t] * eps[t])
        prev_x = prev_x + r
        prev_r = r
        x[t] = prev_x
    return x


def _timestamps(n: int, start: pd.Timestamp, session: str) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The first ``n`` open minutes at or after ``start``, and each one's minute since its session open."""
    from factory.data.sessions import get_calendar

    cal = get_calendar(session)
    local = start.tz_convert(cal.tz).tz_localize(None)
    first_date = (local + pd.Timedelta(hours=24 - cal.open_time.hour, minutes=-cal.open_time.minute)).normalize()
    n_sessions = n // SESSION_MINUTES + 3
    dates = pd.bdate_range(first_date, periods=n_sessions)  # Monday..Friday trading dates; holidays not modelled
    opens = (dates - pd.Timedelta(days=1) + pd.Timedelta(hours=cal.open_time.hour, minutes=cal.open_time.minute))
    opens = opens.tz_localize(cal.tz).tz_convert("UTC").as_unit("ns").asi8
    grid = opens[:, None] + np.arange(SESSION_MINUTES, dtype=np.int64)[None, :] * 60_000_000_000
    minute = np.broadcast_to(np.arange(SESSION_MINUTES), grid.shape).ravel()
    grid = grid.ravel()
    first = int(np.searchsorted(grid, start.ceil("min").value))
    sel = slice(first, first + n)
    return pd.DatetimeIndex(grid[sel].view("datetime64[ns]")).tz_localize("UTC"), minute[sel]


def _decimals(tick: float) -> int:
    """Decimal places of the tick size, to write grid prices without float noise (0.1 -> 1)."""
    for d in range(10):
        if abs(round(tick, d) - tick) < 1e-12:
            return d
    return 10


def generate_bars(n_bars: int, seed: int = 0, contract: str = "MES", start="2024-01-07 23:00:00+00:00",
                  return_regimes: bool = False):
    """``n_bars`` synthetic 1-minute bars of ``contract`` starting at the first open minute at or after ``start``.

    Returns a bar frame (``timestamp, open, high, low, close, volume``), or ``(bars, regimes)`` with
    ``return_regimes=True`` where ``regimes[i]`` is the hidden state id (0..3, see :data:`REGIME_NAMES`) of bar i.
    The default start, 2024-01-07 23:00 UTC, is the Sunday 17:00 Chicago open.
    """
    if isinstance(n_bars, bool) or not isinstance(n_bars, (int, np.integer)) or n_bars < 1:
        raise ConfigError(f"n_bars must be a positive integer, got {n_bars!r}")
    n = int(n_bars)
    spec = get_contract(contract)
    start_ts = pd.Timestamp(start)
    if start_ts.tz is None:
        raise ConfigError(f"start '{start}' has no time zone; give an offset, e.g. '2024-01-07 23:00:00+00:00'")
    start_ts = start_ts.tz_convert("UTC")

    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(6)]
    ts, minute = _timestamps(n, start_ts, spec.session)
    regimes = _regime_path(n, streams[0])
    vol_season, volume_season = _seasonality(minute)
    sigma = _VOL[regimes] * vol_season
    # One drift direction per episode (up or down), held for the whole episode.
    episode = np.cumsum(np.r_[True, regimes[1:] != regimes[:-1]]) - 1
    drift_sign = np.where(streams[1].random(int(episode[-1]) + 1) < 0.5, -1.0, 1.0)[episode]
    eps = streams[2].standard_normal(n)
    x = _log_price_path(eps, sigma, drift_sign, regimes, _PHI, _KAPPA, _DRIFT, _GLOBAL_PULL)

    tick = spec.tick_size
    level = _LEVELS.get(spec.symbol, 1000.0)
    close_t = np.rint(level * np.exp(x) / tick).astype(np.int64)
    open_t = np.r_[close_t[0], close_t[:-1]]
    # Intrabar excursions beyond open/close, scaled by the bar's volatility in ticks.
    sigma_ticks = sigma * level * np.exp(x) / tick
    wick = np.abs(streams[3].standard_normal((n, 2))).T * 0.6 * sigma_ticks
    high_t = np.maximum(open_t, close_t) + np.floor(wick[0]).astype(np.int64)
    low_t = np.minimum(open_t, close_t) - np.floor(wick[1]).astype(np.int64)

    base = _BASE_VOLUME.get(spec.symbol, 300.0)
    activity = 0.6 + 0.4 * np.abs(eps)  # busier bars move more
    mean_volume = base * volume_season * _VOLUME_FACTOR[regimes] * activity * streams[4].lognormal(0.0, 0.3, n)
    volume = np.maximum(streams[5].poisson(mean_volume), 1).astype(np.float64)

    d = _decimals(tick)
    bars = pd.DataFrame({
        "timestamp": ts,
        "open": np.round(open_t * tick, d),
        "high": np.round(high_t * tick, d),
        "low": np.round(low_t * tick, d),
        "close": np.round(close_t * tick, d),
        "volume": volume,
    })
    return (bars, regimes) if return_regimes else bars


def plant_edge(bars: pd.DataFrame, every: int = 240, horizon: int = 20, move_ticks: int = 24, seed: int = 0,
               contract: str = "MES") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bars with a planted, visible, learnable edge: an event bar announces the drift of the next bars.

    About one bar in ``every`` (random spacing, never closer than ``2 * horizon``) becomes an event: its volume is
    multiplied by 8 and it closes at its high (an "up" event) or its low ("down"), which the features see (volume
    z-scores, bar shape). Over the next ``horizon`` bars the price then drifts ``move_ticks`` ticks in the event's
    direction (every later price shifted by the running drift, on the tick grid, so bars stay consistent). With
    ``move_ticks=0`` the events stay visible but announce nothing: the null twin of the same data. Returns the new
    bars and the events (``row``, ``direction``).
    """
    tick = get_contract(contract).tick_size
    n = len(bars)
    rng = np.random.default_rng(seed)
    rows, r = [], int(rng.integers(every // 2, every)) if n > every else n
    while r < n - horizon - 1:
        rows.append(r)
        r += max(2 * horizon, int(rng.exponential(every)))
    rows = np.asarray(rows, dtype=np.int64)
    direction = np.where(rng.random(len(rows)) < 0.5, -1, 1)
    o, h, lo, c = (np.rint(bars[k].to_numpy() / tick).astype(np.int64) for k in ("open", "high", "low", "close"))
    v = bars["volume"].to_numpy(dtype=np.float64).copy()
    c[rows] = np.where(direction > 0, h[rows], lo[rows])  # close at the extreme: a visible shape
    v[rows] *= 8.0
    step = np.zeros(n, dtype=np.float64)
    for row, d in zip(rows, direction):
        step[row + 1: row + 1 + horizon] += d * move_ticks / horizon
    shift = np.rint(np.cumsum(step)).astype(np.int64)
    d = _decimals(tick)
    out = bars.copy()
    for name, ticks in (("open", o), ("high", h), ("low", lo), ("close", c)):
        out[name] = np.round((ticks + shift) * tick, d)
    out["high"] = np.maximum.reduce([out["high"], out["open"], out["close"]])
    out["low"] = np.minimum.reduce([out["low"], out["open"], out["close"]])
    out["volume"] = v
    return out, pd.DataFrame({"row": rows, "direction": direction})


EDGES = ("none", "planted", "null")
# The known-answer profile: an event about every 20 bars, then 48 ticks (12 MES points, $60 per contract against a
# $3.74 round trip) of drift over 10 bars; examples/known_answer.yaml holds the pipeline and models it is judged with.
KNOWN_ANSWER = {"every": 20, "horizon": 10, "move_ticks": 48}


def synth_to_file(path, n_bars: int, seed: int = 0, contract: str = "MES", edge: str = "none"):
    """Generate bars and write them to ``path`` (.csv, .csv.gz or .parquet); returns the path.

    ``edge="planted"`` adds :func:`plant_edge`'s visible events with the :data:`KNOWN_ANSWER` drift (a model
    that finds it earns after costs); ``edge="null"`` adds the same events announcing nothing (its null twin:
    every model should fail there). ``"none"``: the plain generator (the embedded default data).
    """
    from factory.data.io import write_bars
    from factory.errors import ConfigError

    if edge not in EDGES:
        raise ConfigError(f"edge must be one of {', '.join(EDGES)}, got {edge!r}")
    bars = generate_bars(n_bars, seed=seed, contract=contract)
    if edge != "none":
        profile = {**KNOWN_ANSWER, "move_ticks": KNOWN_ANSWER["move_ticks"] if edge == "planted" else 0}
        bars, _ = plant_edge(bars, seed=seed, contract=contract, **profile)
    return write_bars(bars, path)


__all__ = ["EDGES", "KNOWN_ANSWER", "REGIME_NAMES", "generate_bars", "plant_edge", "synth_to_file"]
