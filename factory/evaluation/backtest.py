"""One backtester for every model: the served signal traded with the labels' entry, exits and the shared costs.

Rules (``BacktestConfig``; one instrument, positions of whole contracts):

* A signal (+1 long, -1 short, 0 nothing) is known at bar t's close. With ``fill="next_open"`` (the default) it
  is filled at bar t+1's open ``O_{t+1}``, the price the labels enter at (:func:`factory.labels.entry_prices`):
  what a model learns is what is traded. ``fill="close"`` fills at bar t's own close instead (the textbook,
  optimistic convention, for comparison). A signal at the window's last bar is never filled.
* Flat and a signal: open that side with ``size`` contracts (1, or scaled by the signalled class's probability
  up to ``max_contracts`` with ``sizing="confidence"``).
* Exits, checked in this order on every bar the position is held:
  1. ``exits="barriers"``: the labels' horizontal barriers around the fill, ``U = E + (k_up + c) ATR_t`` and
     ``L = E - (k_down + c) ATR_t`` with the ATR and cost of the signal bar t. A bar that opens beyond a barrier
     exits at its open (the gap is paid or earned); otherwise a touch of the high / low exits at the barrier.
     A bar touching both is read as the stop first (the adverse barrier: OHLC bars cannot tell the order, and the
     labels call such a bar ambiguous, so the backtest takes the conservative side);
  2. the vertical barrier: at the close of bar ``t + horizon`` (bars counted from the signal bar, halts and
     weekends included, as the labels count them);
  3. a signal in the same direction keeps the position and restarts the vertical clock from its bar (no cost);
     the opposite signal closes the position and opens the other side at the fill price (two trades).
  A signal of 0 changes nothing; a position still open at the window's last bar is closed at its close.

Money: P&L in USD per contract is ``side * (exit - entry) * point_value`` (``point_value = tick_value /
tick_size``); every trade pays ``CostModel.round_trip_usd`` per contract (commission on both sides plus the
slippage ticks), charged on its entry bar in the equity curve. The per-bar series is marked to market at each
close, so its sum equals the trades' net P&L.

Metrics (:func:`backtest_metrics`): ``n_trades``, ``win_rate``, ``profit_factor``, ``avg_trade_usd``,
``net_pnl_usd``, ``gross_pnl_usd``, ``cost_usd``, ``max_drawdown_usd``, ``exposure`` (share of bars in which a
position is held), ``turnover`` (contracts bought or sold per day with bars), ``net_sharpe`` and ``sortino``
(annualised with the bar rate; :mod:`factory.evaluation.performance`), ``psr`` (probabilistic Sharpe ratio
against 0 of the per-bar series) and ``net_sharpe_ci_low`` / ``net_sharpe_ci_high`` (95% bootstrap interval
from daily P&L).

The state machine is compiled with numba: a Python loop over 1M bars would take seconds; vectorised NumPy cannot
express the path dependence (exits depend on when the position was opened).
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import pandas as pd
from numba import njit

from factory.errors import FactoryError
from factory.evaluation.config import BacktestConfig

EXIT_REASONS = ("take_profit", "stop_loss", "horizon", "reversal", "end")
_TP, _SL, _HORIZON, _REVERSAL, _END = range(5)
TRADE_COLUMNS = ["signal_row", "entry_row", "exit_row", "entry_time", "exit_time", "side", "contracts",
                 "entry_price", "exit_price", "gross_usd", "cost_usd", "net_usd", "exit_reason"]


@dataclass
class BacktestResult:
    trades: pd.DataFrame  # one row per trade (TRADE_COLUMNS)
    pnl: np.ndarray  # net USD P&L per bar, marked to market at each close
    equity: pd.Series  # cumulative net P&L, indexed by timestamp
    metrics: dict[str, float]
    position: np.ndarray | None = None  # signed contracts held in each bar (at its close, or until an exit in it)


@njit(cache=True)
def _put(rec, k, sig_row, entry_row, exit_row, side, qty, entry, exit_price, reason):  # pragma: no cover
    rec[k, 0], rec[k, 1], rec[k, 2], rec[k, 3] = sig_row, entry_row, exit_row, side
    rec[k, 4], rec[k, 5], rec[k, 6], rec[k, 7] = qty, entry, exit_price, reason


@njit(cache=True)
def _run(o, h, lo, c, signal, size, up_off, dn_off, horizon, fill_next, barriers, pv, cost):  # pragma: no cover
    """The rules above; returns per-bar P&L, position at the close and the trade records."""
    n = c.shape[0]
    pnl = np.zeros(n)
    pos = np.zeros(n)
    rec = np.zeros((n, 8))  # signal row, entry row, exit row, side, contracts, entry price, exit price, reason
    k = 0
    side, qty, entry, upper, lower, mark = 0, 0.0, 0.0, 0.0, 0.0, 0.0
    sig_row, entry_row, exit_at = -1, -1, -1
    pending, pending_row = 0, -1  # an order from the previous close, filled at this bar's open

    for t in range(n):
        # 1. the previous close's order, filled at this open
        if pending != 0:
            if side != 0:  # a reversal: close at the open first
                pnl[t] += side * qty * (o[t] - mark) * pv
                _put(rec, k, sig_row, entry_row, t, side, qty, entry, o[t], _REVERSAL)
                k += 1
            r = pending_row
            side, qty, entry, mark = pending, size[r], o[t], o[t]
            upper, lower = entry + up_off[r], entry - dn_off[r]
            sig_row, entry_row, exit_at = r, t, r + horizon
            pnl[t] -= qty * cost
            pending = 0
        held = side * qty
        # 2. the horizontal barriers inside this bar (a fill at this open has no gap to check: it is the open)
        if side != 0 and barriers:
            adverse, favourable = (lower, upper) if side > 0 else (upper, lower)
            x, reason = np.nan, -1
            if side > 0:
                if o[t] <= adverse and entry_row < t:
                    x, reason = o[t], _SL
                elif o[t] >= favourable and entry_row < t:
                    x, reason = o[t], _TP
                elif lo[t] <= adverse:
                    x, reason = adverse, _SL
                elif h[t] >= favourable:
                    x, reason = favourable, _TP
            else:
                if o[t] >= adverse and entry_row < t:
                    x, reason = o[t], _SL
                elif o[t] <= favourable and entry_row < t:
                    x, reason = o[t], _TP
                elif h[t] >= adverse:
                    x, reason = adverse, _SL
                elif lo[t] <= favourable:
                    x, reason = favourable, _TP
            if reason >= 0:
                pnl[t] += side * qty * (x - mark) * pv
                _put(rec, k, sig_row, entry_row, t, side, qty, entry, x, reason)
                k += 1
                side = 0
        # 3. at the close: mark, then the vertical barrier unless renewed, then this close's signal
        s = signal[t]
        if side != 0:
            pnl[t] += side * qty * (c[t] - mark) * pv
            mark = c[t]
            if s == side:
                exit_at = t + horizon
            elif t >= exit_at:
                _put(rec, k, sig_row, entry_row, t, side, qty, entry, c[t], _HORIZON)
                k += 1
                side = 0
        if s != 0 and s != side and t + 1 < n:  # a signal at the last bar is never filled
            if fill_next:
                pending, pending_row = s, t
            else:
                if side != 0:
                    _put(rec, k, sig_row, entry_row, t, side, qty, entry, c[t], _REVERSAL)
                    k += 1
                side, qty, entry, mark = s, size[t], c[t], c[t]
                upper, lower = entry + up_off[t], entry - dn_off[t]
                sig_row, entry_row, exit_at = t, t, t + horizon
                pnl[t] -= qty * cost
        if t == n - 1 and side != 0:
            _put(rec, k, sig_row, entry_row, t, side, qty, entry, c[t], _END)
            k += 1
            side = 0
        pos[t] = side * qty if side != 0 else held
    return pnl, pos, rec[:k]


def position_sizes(proba, signal, config: BacktestConfig) -> np.ndarray:
    """Contracts per signal bar: 1, or ``ceil(max_contracts * q)`` with ``q = (p - 1/3) / (2/3)`` the signalled
    class's probability above a uniform guess (at least 1, at most ``max_contracts``)."""
    signal = np.asarray(signal)
    if config.sizing == "fixed" or proba is None:
        return np.full(signal.shape[0], float(config.max_contracts if config.sizing == "fixed" else 1))
    p = np.asarray(proba, dtype=np.float64)
    col = np.where(signal > 0, 2, np.where(signal < 0, 0, 1))
    q = np.clip((p[np.arange(len(col)), col] - 1.0 / 3.0) / (2.0 / 3.0), 0.0, 1.0)
    q = np.where(signal == 0, 0.0, q)  # no trade: the size is never used
    return np.clip(np.ceil(config.max_contracts * q), 1, config.max_contracts).astype(np.float64)


def backtest(bars: pd.DataFrame, signal, horizon: int, cost_model, *, barriers=None, size=None,
             config: BacktestConfig | None = None, rate: float | None = None) -> BacktestResult:
    """Trade ``signal`` over one contiguous window of ``bars`` (timestamp, open, high, low, close) by the rules
    in the module docstring.

    ``barriers`` is ``(up_offset, down_offset)`` in price points per bar (``(k + c) ATR_t``, from
    :meth:`factory.labels.barriers.BarrierDefinition.offsets`); required with ``exits="barriers"``.
    ``size`` overrides the contracts per signal bar. ``rate`` (bars per year) annualises the ratios; by default
    the window's own bar rate.
    """
    config = config or BacktestConfig()
    cols = [bars[k].to_numpy(np.float64) for k in ("open", "high", "low", "close")]
    n = len(cols[3])
    signal = np.asarray(signal, dtype=np.int64)
    if signal.shape != (n,):
        raise FactoryError(f"backtest: {signal.shape[0]} signals for {n} bars")
    if np.any(np.abs(signal) > 1):
        raise FactoryError("backtest: signals must be -1, 0 or 1")
    use_barriers = config.exits == "barriers"
    if use_barriers:
        if barriers is None:
            raise FactoryError("backtest: exits='barriers' needs the labels' barrier offsets (barriers=...)")
        up, dn = (np.asarray(b, dtype=np.float64) for b in barriers)
        # A bar without a barrier (ATR warm-up) cannot be traded by the barrier rules: its signal is ignored.
        signal = np.where(np.isfinite(up) & np.isfinite(dn), signal, 0)
        up, dn = np.nan_to_num(up, nan=np.inf), np.nan_to_num(dn, nan=np.inf)
    else:
        up = dn = np.full(n, np.inf)
    qty = np.full(n, 1.0) if size is None else np.asarray(size, dtype=np.float64)
    ts = pd.DatetimeIndex(pd.Series(bars["timestamp"]).reset_index(drop=True))
    pv, cost = float(cost_model.point_value), float(cost_model.round_trip_usd)
    pnl, position, rec = _run(*cols, signal, qty, up, dn, int(horizon), config.fill == "next_open", use_barriers,
                              pv, cost)
    trades = _trade_table(rec, ts, pv, cost)
    equity = pd.Series(np.cumsum(pnl), index=ts, name="equity_usd")
    return BacktestResult(trades=trades, pnl=pnl, equity=equity, position=position,
                          metrics=backtest_metrics(pnl, trades, ts, position, rate))


def _trade_table(rec: np.ndarray, ts: pd.DatetimeIndex, pv: float, cost: float) -> pd.DataFrame:
    sig, entry, exit_, side, qty, p_in, p_out, reason = (rec[:, i] for i in range(8))
    entry, exit_ = entry.astype(np.int64), exit_.astype(np.int64)
    gross = side * qty * (p_out - p_in) * pv
    return pd.DataFrame({
        "signal_row": sig.astype(np.int64), "entry_row": entry, "exit_row": exit_,
        "entry_time": ts[entry], "exit_time": ts[exit_], "side": side.astype(np.int64), "contracts": qty,
        "entry_price": p_in, "exit_price": p_out, "gross_usd": gross, "cost_usd": qty * cost,
        "net_usd": gross - qty * cost,
        "exit_reason": pd.Categorical.from_codes(reason.astype(np.int64), categories=list(EXIT_REASONS)),
    }, columns=TRADE_COLUMNS)


def backtest_metrics(pnl: np.ndarray, trades: pd.DataFrame, ts: pd.DatetimeIndex, position: np.ndarray,
                     rate: float | None = None) -> dict[str, float]:
    """The numbers listed in the module docstring."""
    from factory.errors import FactoryError as _Err
    from factory.evaluation import performance as perf
    from factory.validation.stats import probabilistic_sharpe_ratio

    n = len(pnl)
    rate = perf.bars_per_year(ts) if rate is None else rate
    net = trades["net_usd"].to_numpy(dtype=np.float64)
    days = max(int(pd.DatetimeIndex(ts).normalize().nunique()), 1) if n else 1
    low, high = perf.sharpe_confidence_interval(pnl, ts) if n else (float("nan"), float("nan"))
    out = {
        "n_trades": float(len(trades)),
        "win_rate": float(np.mean(net > 0)) if len(net) else float("nan"),
        "profit_factor": perf.profit_factor(net),
        "avg_trade_usd": float(np.mean(net)) if len(net) else float("nan"),
        "net_pnl_usd": float(np.sum(pnl)),
        "gross_pnl_usd": float(trades["gross_usd"].sum()),
        "cost_usd": float(trades["cost_usd"].sum()),
        "max_drawdown_usd": perf.max_drawdown(pnl),
        "exposure": float(np.mean(position != 0)) if n else 0.0,
        "turnover": float(2.0 * trades["contracts"].sum() / days),
        "net_sharpe": perf.sharpe(pnl, rate),
        "sortino": perf.sortino(pnl, rate),
        "net_sharpe_ci_low": low,
        "net_sharpe_ci_high": high,
        "psr": float("nan"),
    }
    std = float(np.std(pnl, ddof=1)) if n > 2 else 0.0
    if std > 0:
        z = (pnl - pnl.mean()) / std
        try:
            out["psr"] = probabilistic_sharpe_ratio(float(np.mean(pnl)) / std, n, 0.0, float(np.mean(z**3)),
                                                    float(np.mean(z**4)))
        except _Err:  # undefined for some extreme skew / kurtosis: reported as NaN
            pass
    return out
