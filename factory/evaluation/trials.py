"""PBO across the barrier search's Optuna trials: every candidate barrier set through the same CPCV leaderboard.

``factory train`` chooses its barriers with Optuna (:mod:`factory.labels.tuning`) by a label-quality score, and
the plain leaderboard turns that search off. ``factory evaluate --tuning-trials N`` judges the search itself:

1. **Proposals.** The first ``window`` share of the bars (rows ``[0, tuning_end)``) runs the study train runs
   (the config's ranges and seed, ``N`` trials). Its distinct candidates are the trials. No bar from
   ``tuning_end`` on reaches the proposals or the choice among them.
2. **Every trial, same judge.** Each candidate labels the bars with its fixed barriers, and every model goes
   through :func:`~factory.evaluation.leaderboard.evaluate_models` on samples from ``tuning_end`` on. No sample
   that the study read is ever fitted or tested.
3. **The chosen trial** is the candidate with the best tuning score: the one train would pick on those bars. Its
   leaderboard is the leaderboard (rows, plots, PBO across models).
4. **PBO across trials**, per model: CSCV over the ``T x K`` matrix of each candidate's path-mean net P&L per
   bar (:mod:`factory.evaluation.leaderboard_stats`), on the bars every candidate covers (a longer horizon leaves
   fewer labelled bars at the end, so the stretches differ by a few bars).
5. **DSR deflated by every trial.** A chosen row's DSR counts all (model, candidate) results as trials, with
   the variance of all their per-bar Sharpe ratios: the selection looked at all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from factory.errors import ConfigError

DEFAULT_WINDOW = 0.25
TRIAL_COLUMNS = ["model", "trial", "k_up", "k_down", "horizon", "tuning_score", "chosen", "net_sharpe_mean",
                 "net_sharpe_std", "net_sharpe_per_bar", "win_rate", "n_trades", "error"]


@dataclass
class TrialLeaderboard:
    board: Any  # the chosen candidate's Leaderboard, with pbo_trials / n_trials and the deflated dsr
    trials: list  # BarrierTrial, one per candidate evaluated
    chosen: int  # index into trials
    tuning_end: int  # bars [0, tuning_end) proposed the candidates
    table: pd.DataFrame  # TRIAL_COLUMNS: one row per (model, candidate)
    pbo_trials: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # why a model's pbo_trials is NaN


def tuning_end_of(n_bars: int, window: float) -> int:
    """Rows ``[0, tuning_end)`` propose the candidates; ``window`` is their share of the bars."""
    if not 0 < window < 1:
        raise ConfigError(f"tuning window must be a share of the bars in (0, 1), got {window}")
    return int(round(window * n_bars))


def propose(bars: pd.DataFrame, labels, contract: str, n_trials: int, window: float) -> tuple[list, int]:
    """``(distinct candidates, tuning_end)``: the Optuna barrier search of ``labels``' ranges and seed with
    ``n_trials`` trials, on bars ``[0, tuning_end)`` only (step 1 of the module docstring)."""
    from factory.contracts import CostModel, get_contract
    from factory.labels import barrier_trials

    if int(n_trials) < 1:
        raise ConfigError(f"the barrier search needs at least one Optuna trial, got {n_trials}")
    bars = bars.reset_index(drop=True)
    tuning_end = tuning_end_of(len(bars), window)
    search = labels.model_copy(update={"tuning": labels.tuning.model_copy(update={"enabled": True,
                                                                               "n_trials": int(n_trials)})})
    cost = get_contract(contract).cost_model() if labels.include_costs else CostModel.zero()
    # The slice is cut before labelling: a label whose horizon would cross tuning_end is invalid in the search.
    return barrier_trials(bars.iloc[:tuning_end].reset_index(drop=True), search, cost), tuning_end


def chosen_index(trials: list) -> int:
    """The candidate train would choose: the best tuning score, the earliest trial on ties."""
    if not trials:
        raise ConfigError("the barrier search returned no candidate")
    return int(max(range(len(trials)), key=lambda i: (trials[i].score, -i)))


def trial_pnl(boards: list, key: str) -> pd.DataFrame:
    """Per-bar path-mean net P&L of ``key`` under each candidate (columns = candidate index), on common bars."""
    cols = {}
    for i, b in enumerate(boards):
        p = b.paths.get(key)
        if p is not None:
            cols[i] = pd.Series(np.mean(p.pnl, axis=0), index=pd.DatetimeIndex(b.timestamps))
    if not cols:
        return pd.DataFrame()
    return pd.concat(cols, axis=1, join="inner")


def combine(trials: list, boards: list, tuning_end: int, n_partitions: int = 16) -> TrialLeaderboard:
    """The chosen candidate's leaderboard with PBO across candidates and the DSR deflated by all of them."""
    from factory.evaluation.leaderboard_stats import dsr_of, pbo_of_matrix

    if len(trials) != len(boards):
        raise ConfigError(f"{len(trials)} candidates but {len(boards)} leaderboards")
    chosen = chosen_index(trials)
    board = boards[chosen]
    rows = []
    for i, (t, b) in enumerate(zip(trials, boards)):
        for r in b.table.to_dict("records"):
            rows.append({"model": r["model"], "trial": t.number, "k_up": t.k_up, "k_down": t.k_down,
                         "horizon": t.horizon, "tuning_score": t.score, "chosen": i == chosen,
                         **{c: r.get(c, np.nan) for c in TRIAL_COLUMNS[7:]}})
    table = pd.DataFrame(rows, columns=TRIAL_COLUMNS)
    pbo, reasons = {}, {}
    for key in board.paths:
        m = trial_pnl(boards, key)
        pbo[key], why = pbo_of_matrix(m.to_numpy(), n_partitions, what="barrier candidates")
        if why:
            reasons[key] = why
    # Every (model, candidate) result is a trial of the selection.
    sharpes = [p.row["net_sharpe_per_bar"] for b in boards for p in b.paths.values()]
    dsr = dsr_of(board.paths, sharpes)
    t = board.table.copy()
    ok = t["error"] == ""
    t.loc[ok, "dsr"] = [dsr[k] for k in t.loc[ok, "model"]]
    t.insert(t.columns.get_loc("dsr") + 1, "pbo_trials", [pbo.get(k, np.nan) for k in t["model"]])
    t.insert(t.columns.get_loc("pbo_trials") + 1, "n_trials", float(len(sharpes)))
    board.table = t
    return TrialLeaderboard(board, list(trials), chosen, int(tuning_end), table, pbo, reasons)
