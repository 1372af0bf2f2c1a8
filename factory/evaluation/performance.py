"""Performance numbers of a per-bar net P&L series: Sharpe, Sortino, drawdown, its confidence interval, by regime.

Annualisation: a per-bar ratio is multiplied by ``sqrt(bars_per_year)``, where ``bars_per_year`` is the data's
own bar rate, ``(n_bars - 1) / elapsed years`` of the timestamps it is computed from (so it works for 1-minute,
hourly or daily bars and counts halts and weekends as elapsed time, as a calendar-year Sharpe does). Pass the
rate of the whole dataset when a series is a concatenation of separate stretches (CPCV paths), so the gaps
between stretches do not change the rate.

The confidence interval of the Sharpe ratio is a bootstrap over *daily* net P&L (UTC days with at least one bar):
per-bar P&L of an open position is autocorrelated, so resampling bars would understate the uncertainty; days are
close to independent for intraday strategies. scipy's ``bootstrap`` (BCa by default) does the resampling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SECONDS_PER_YEAR = 365.25 * 86400.0


def bars_per_year(timestamps) -> float:
    """``(n - 1) / elapsed years`` of ``timestamps`` (NaN with fewer than two bars or no elapsed time)."""
    ts = pd.DatetimeIndex(pd.Series(timestamps).reset_index(drop=True))
    if len(ts) < 2:
        return float("nan")
    years = (ts[-1] - ts[0]).total_seconds() / SECONDS_PER_YEAR
    return (len(ts) - 1) / years if years > 0 else float("nan")


def sharpe(pnl, rate: float) -> float:
    """Annualised Sharpe ratio ``mean / std * sqrt(rate)`` (NaN when the series is constant or too short)."""
    pnl = np.asarray(pnl, dtype=np.float64)
    if len(pnl) < 3:
        return float("nan")
    sd = float(np.std(pnl, ddof=1))
    return float(np.mean(pnl)) / sd * float(np.sqrt(rate)) if sd > 0 and np.isfinite(rate) else float("nan")


def sortino(pnl, rate: float) -> float:
    """Annualised Sortino ratio: mean over the downside deviation ``sqrt(mean(min(pnl, 0)^2))`` (target 0)."""
    pnl = np.asarray(pnl, dtype=np.float64)
    if len(pnl) < 3:
        return float("nan")
    down = float(np.sqrt(np.mean(np.minimum(pnl, 0.0) ** 2)))
    return float(np.mean(pnl)) / down * float(np.sqrt(rate)) if down > 0 and np.isfinite(rate) else float("nan")


def max_drawdown(pnl) -> float:
    """Largest peak-to-trough fall of the cumulative P&L (starting from 0), ``>= 0``."""
    eq = np.cumsum(np.asarray(pnl, dtype=np.float64))
    if len(eq) == 0:
        return 0.0
    return float(max(np.max(np.maximum.accumulate(np.concatenate([[0.0], eq]))[1:] - eq), 0.0))


def profit_factor(trade_net) -> float:
    """Gross profit over gross loss of the trades' net P&L (``inf`` with wins and no loss, NaN with no trade)."""
    x = np.asarray(trade_net, dtype=np.float64)
    if len(x) == 0:
        return float("nan")
    win, loss = float(x[x > 0].sum()), float(-x[x < 0].sum())
    if loss == 0:
        return float("inf") if win > 0 else float("nan")
    return win / loss


def daily_pnl(pnl, timestamps) -> pd.Series:
    """Net P&L summed per UTC calendar day that has bars."""
    ts = pd.DatetimeIndex(pd.Series(timestamps).reset_index(drop=True))
    return pd.Series(np.asarray(pnl, dtype=np.float64), index=ts).groupby(ts.normalize()).sum()


def sharpe_confidence_interval(pnl, timestamps, level: float = 0.95, n_resamples: int = 999,
                               seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of the annualised Sharpe ratio from daily P&L (see the module docstring).

    The daily ratio is annualised with the observed days per year. NaN bounds with fewer than 5 days or a
    constant daily series.
    """
    from scipy.stats import bootstrap

    days = daily_pnl(pnl, timestamps)
    x = days.to_numpy()
    if len(x) < 5 or np.std(x) == 0:
        return float("nan"), float("nan")
    rate = bars_per_year(days.index)

    def stat(sample, axis=-1):
        sd = np.std(sample, axis=axis, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(sd > 0, np.mean(sample, axis=axis) / sd, 0.0) * np.sqrt(rate)

    res = bootstrap((x,), stat, confidence_level=level, n_resamples=n_resamples, vectorized=True,
                    random_state=np.random.default_rng(seed), method="percentile")
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


REGIME_COLUMNS = ["regime", "net_sharpe", "sortino", "net_pnl_usd", "max_drawdown_usd", "n_trades", "win_rate",
                  "profit_factor", "exposure", "n_bars"]


def per_regime(pnl, position, regime, rate: float, names: dict | None = None, trade_rows=None,
               trade_net=None) -> pd.DataFrame:
    """The backtest's metrics over the bars of each regime (the regime known at each bar): ``REGIME_COLUMNS``.

    ``regime`` holds one label per bar (ints or strings; negative ints are "undefined" warm-up bars and are
    dropped); ``names`` maps labels to display names. The Sharpe and Sortino of a regime use the bars in it only,
    annualised with ``rate`` (the whole series' bar rate), so they read as "what the strategy earns while in that
    regime"; its drawdown is that of the regime's bars' P&L strung together. A trade (``trade_rows``: the bar of
    its signal, ``trade_net``: its net USD) belongs to the regime of its signal bar, the regime the model saw
    when it decided; without trades the trade columns are NaN.
    """
    pnl = np.asarray(pnl, dtype=np.float64)
    pos = np.asarray(position, dtype=np.float64)
    lab = pd.Series(np.asarray(regime)).reset_index(drop=True)
    has_trades = trade_rows is not None and trade_net is not None
    if has_trades:
        trade_rows = np.asarray(trade_rows, dtype=np.int64)
        trade_net = np.asarray(trade_net, dtype=np.float64)
        if trade_rows.shape != trade_net.shape or (trade_rows.size and not (
                0 <= trade_rows.min() and trade_rows.max() < len(lab))):
            raise ValueError(f"trade_rows must be {trade_net.shape} bar positions in [0, {len(lab)})")
        trade_lab = lab.to_numpy()[trade_rows]
    rows = []
    for value in sorted(lab.dropna().unique(), key=str):
        if isinstance(value, (int, np.integer)) and value < 0:
            continue
        m = (lab == value).to_numpy()
        row = {"regime": (names or {}).get(value, str(value)), "net_sharpe": sharpe(pnl[m], rate),
               "sortino": sortino(pnl[m], rate), "net_pnl_usd": float(pnl[m].sum()),
               "max_drawdown_usd": max_drawdown(pnl[m]), "n_trades": np.nan, "win_rate": np.nan,
               "profit_factor": np.nan, "exposure": float(np.mean(pos[m] != 0)), "n_bars": int(m.sum())}
        if has_trades:
            tn = trade_net[trade_lab == value]
            row.update(n_trades=int(tn.size), win_rate=float(np.mean(tn > 0)) if tn.size else np.nan,
                       profit_factor=profit_factor(tn))
        rows.append(row)
    return pd.DataFrame(rows, columns=REGIME_COLUMNS)
