"""Assemble CPCV paths per model and the leaderboard table: Sharpe across paths, PBO across models, DSR per model.

PBO input: a ``T x N`` matrix whose column ``j`` is model ``j``'s out-of-sample net P&L per bar *averaged over
the CPCV paths*. Every path covers the same bars (all groups, in time order), so the mean is defined bar by bar;
it uses every split's out-of-sample prediction instead of one arbitrary path's, which damps the noise of any
single split's fit without ever mixing in an in-sample bar. CSCV then asks how often the model that looks best
on half of the time blocks is below the median on the other half.

DSR: the per-bar (not annualised) Sharpe of that same path-mean series, deflated by the number of trials (the
models that produced a result) and the variance of their per-bar Sharpe ratios, with the series' own skew and
kurtosis (:func:`factory.validation.stats.deflated_sharpe_ratio`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from factory.errors import FactoryError

COLUMNS = ["model", "net_sharpe_mean", "net_sharpe_std", "win_rate", "max_drawdown_usd", "n_trades", "log_loss",
           "ece", "pbo", "dsr"]
EXTRA = ["net_sharpe_per_bar", "net_pnl_usd_mean", "max_drawdown_usd_worst", "n_paths", "selection_log_loss",
         "selection_net_sharpe", "seconds"]
ENSEMBLES = ("voting", "stacking")


@dataclass
class ModelPaths:
    """One model's CPCV paths: per-bar P&L and position ``(n_paths, T)``, and the numbers derived from them."""

    key: str
    pnl: np.ndarray
    position: np.ndarray
    path_sharpe: np.ndarray
    regimes: pd.DataFrame  # kind, regime, net_sharpe (mean over paths), net_sharpe_std, n_bars
    y: np.ndarray  # every test sample of every split, pooled
    proba: np.ndarray
    row: dict[str, Any]


@dataclass
class Leaderboard:
    table: pd.DataFrame
    paths: dict[str, ModelPaths]
    plan: Any
    timestamps: pd.Series  # of the T bars every path covers
    pbo: float
    pbo_reason: str  # why PBO is NaN ('' when computed)
    errors: dict[str, str] = field(default_factory=dict)


def model_paths(run, plan, dataset) -> ModelPaths:
    """Concatenate each path's groups (time order) and summarise them; see the leaderboard module docstring."""
    from factory.evaluation.metrics import classification_metrics, expected_calibration_error
    from factory.evaluation.performance import REGIME_COLUMNS, max_drawdown, per_regime, sharpe

    from factory.fitting import regime_names

    names = regime_names(dataset)
    pnl, pos, sharpes, dds, trades, wins, regime_rows = [], [], [], [], [], [], []
    for p, row in enumerate(plan.paths):
        parts = [run.groups[(int(s), g)] for g, s in enumerate(row)]
        pp = np.concatenate([r.pnl for r in parts])
        po = np.concatenate([r.position for r in parts])
        tn = np.concatenate([r.trade_net for r in parts])
        pnl.append(pp)
        pos.append(po)
        sharpes.append(sharpe(pp, plan.rate))
        dds.append(max_drawdown(pp))
        trades.append(len(tn))
        wins.append(int((tn > 0).sum()))
        # Each group's trade positions shifted by the bars of the groups before it on this path.
        starts = np.cumsum([0] + [len(r.pnl) for r in parts[:-1]])
        tr = np.concatenate([r.trade_rows + s for r, s in zip(parts, starts)]).astype(np.int64)
        for kind in parts[0].regimes:
            lab = np.concatenate([r.regimes[kind] for r in parts])
            t = per_regime(pp, po, lab, plan.rate, names[kind], tr, tn).assign(kind=kind, path=p)
            regime_rows.append(t)
    sharpes = np.asarray(sharpes)
    y = np.concatenate([r.y for r in run.groups.values()])
    proba = np.concatenate([r.proba for r in run.groups.values()])
    regimes = pd.concat(regime_rows, ignore_index=True) if regime_rows else pd.DataFrame(
        columns=["kind", *REGIME_COLUMNS, "path"])
    # Path means (and the Sharpe's spread across paths); the win rate pools the paths' trades.
    regimes = regimes.assign(n_wins=regimes["win_rate"] * regimes["n_trades"])
    regimes = (regimes.groupby(["kind", "regime"], sort=False)
               .agg(net_sharpe=("net_sharpe", "mean"), net_sharpe_std=("net_sharpe", "std"),
                    sortino=("sortino", "mean"), net_pnl_usd=("net_pnl_usd", "mean"),
                    max_drawdown_usd=("max_drawdown_usd", "mean"), n_trades=("n_trades", "mean"),
                    n_wins=("n_wins", "mean"), exposure=("exposure", "mean"),
                    n_bars=("n_bars", "mean")).reset_index())
    regimes.insert(regimes.columns.get_loc("n_wins"), "win_rate",
                   (regimes["n_wins"] / regimes["n_trades"]).where(regimes["n_trades"] > 0))
    regimes = regimes.drop(columns="n_wins")
    mean_pnl = np.mean(pnl, axis=0)
    finite = sharpes[np.isfinite(sharpes)]
    row: dict[str, Any] = {
        "model": run.key,
        "net_sharpe_mean": float(finite.mean()) if finite.size else float("nan"),
        # Spread across paths; one path has no spread to estimate.
        "net_sharpe_std": float(finite.std(ddof=1)) if finite.size > 1 else (0.0 if finite.size else float("nan")),
        "win_rate": float(sum(wins) / sum(trades)) if sum(trades) else float("nan"),
        "max_drawdown_usd": float(np.mean(dds)),
        "n_trades": float(np.mean(trades)),
        "log_loss": classification_metrics(y, proba)["log_loss"],
        "ece": expected_calibration_error(y, proba),
        "net_sharpe_per_bar": _per_bar_sharpe(mean_pnl),
        "net_pnl_usd_mean": float(np.mean([x.sum() for x in pnl])),
        "max_drawdown_usd_worst": float(np.max(dds)),
        "n_paths": int(plan.n_paths),
        "seconds": float(run.seconds),
        **run.selection,
    }
    for r in regimes.itertuples():
        row[f"sharpe_{r.kind}_{r.regime}"] = float(r.net_sharpe)
    return ModelPaths(run.key, np.asarray(pnl), np.asarray(pos), sharpes, regimes, y, proba, row)


def _per_bar_sharpe(x: np.ndarray) -> float:
    sd = float(np.std(x, ddof=1)) if len(x) > 2 else 0.0
    return float(np.mean(x)) / sd if sd > 0 else float("nan")


def pbo_of_matrix(m: np.ndarray, n_partitions: int = 16, what: str = "models") -> tuple[float, str]:
    """PBO of a ``T x N`` matrix of per-bar P&L (one column per trial), or NaN and the reason it is undefined."""
    from factory.validation.stats import probability_of_backtest_overfitting

    if m.ndim != 2 or m.shape[1] < 2:
        return float("nan"), f"PBO needs at least 2 successful {what}, got {m.shape[1] if m.ndim == 2 else 0}"
    # As many partitions as the series allows (CSCV needs at least 2 bars per block), 16 at most.
    s = min(n_partitions, (m.shape[0] // 2) // 2 * 2)
    if s < 2:
        return float("nan"), f"PBO needs at least 4 out-of-sample bars, got {m.shape[0]}"
    try:
        return probability_of_backtest_overfitting(m, s).pbo, ""
    except FactoryError as exc:
        return float("nan"), str(exc)


def pbo_of(paths: dict[str, ModelPaths], n_partitions: int = 16) -> tuple[float, str]:
    """PBO of the models' path-mean P&L (see the module docstring), or NaN and the reason it is undefined."""
    m = np.column_stack([np.mean(p.pnl, axis=0) for p in paths.values()]) if paths else np.empty((0, 0))
    return pbo_of_matrix(m, n_partitions)


def dsr_of(paths: dict[str, ModelPaths], trial_sharpes: list[float] | None = None) -> dict[str, float]:
    """DSR per model (see the module docstring); NaN where a model's per-bar Sharpe is undefined (no trades).

    ``trial_sharpes``: the per-bar Sharpe ratios of every trial behind the selection, when there were more than
    these models (e.g. every barrier candidate of every model); by default the models themselves.
    """
    from scipy.stats import kurtosis, skew

    from factory.validation.stats import deflated_sharpe_ratio

    sr = {k: p.row["net_sharpe_per_bar"] for k, p in paths.items()}
    pool = list(sr.values()) if trial_sharpes is None else list(trial_sharpes)
    ok = [v for v in pool if np.isfinite(v)]
    variance = float(np.var(ok, ddof=1)) if len(ok) > 1 else 0.0
    out = {}
    for k, p in paths.items():
        x = np.mean(p.pnl, axis=0)
        if not np.isfinite(sr[k]):
            out[k] = float("nan")
            continue
        try:
            out[k] = deflated_sharpe_ratio(sr[k], len(x), max(len(ok), 1), variance, float(skew(x)),
                                           float(kurtosis(x, fisher=False)))
        except FactoryError:
            out[k] = float("nan")
    return out


def ensemble_notes(table: pd.DataFrame, members: dict[str, list[str]]) -> dict[str, str]:
    """For each ensemble row, its mean Sharpe against its best evaluated member's."""
    sharpe = dict(zip(table["model"], table["net_sharpe_mean"]))
    notes = {}
    for key, mem in members.items():
        if key not in ENSEMBLES or key not in sharpe or not np.isfinite(sharpe[key]):
            continue
        scored = {m: sharpe[m] for m in mem if m in sharpe and np.isfinite(sharpe[m])}
        if not scored:
            notes[key] = f"members ({', '.join(mem)}) not evaluated in this leaderboard"
            continue
        best = max(scored, key=scored.get)
        diff = sharpe[key] - scored[best]
        verdict = "beats" if diff > 0 else "does not beat"
        notes[key] = f"{verdict} its best member {best} ({sharpe[key]:.2f} vs {scored[best]:.2f}, {diff:+.2f})"
    return notes


def build_leaderboard(runs: dict[str, Any], plan, dataset) -> Leaderboard:
    """The table (one row per model, best mean Sharpe first, failed models last) and what it was built from."""
    paths: dict[str, ModelPaths] = {}
    errors: dict[str, str] = {}
    for key, run in runs.items():
        if isinstance(run, BaseException):
            errors[key] = f"{type(run).__name__}: {run}"
            continue
        try:
            paths[key] = model_paths(run, plan, dataset)
        except Exception as exc:  # noqa: BLE001 - a model whose results cannot be assembled is a failed row
            errors[key] = f"{type(exc).__name__}: {exc}"
    pbo, reason = pbo_of(paths)
    dsr = dsr_of(paths)
    rows = [{**p.row, "pbo": pbo, "dsr": dsr[k], "error": ""} for k, p in paths.items()]
    rows += [{"model": k, "error": e} for k, e in errors.items()]
    table = pd.DataFrame(rows)
    regime_cols = sorted(c for c in table.columns if c.startswith("sharpe_"))
    for c in COLUMNS + EXTRA + regime_cols:
        if c not in table:
            table[c] = np.nan
    notes = ensemble_notes(table, {k: runs[k].members for k in paths})
    table["note"] = [notes.get(k, "") for k in table["model"]]
    table = table[COLUMNS + regime_cols + EXTRA + ["note", "error"]]
    table = table.assign(_failed=table["error"] != "").sort_values(
        ["_failed", "net_sharpe_mean"], ascending=[True, False], na_position="last").drop(columns="_failed")
    lo, hi = plan.stretches[0][0], plan.stretches[-1][1]
    return Leaderboard(table.reset_index(drop=True), paths, plan, dataset.bars["timestamp"].iloc[lo:hi]
                       .reset_index(drop=True), pbo, reason, errors)
