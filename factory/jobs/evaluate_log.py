"""What the evaluate job writes to MLflow: the leaderboard files, the plots and one nested run per model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

LABELS = np.array([-1, 0, 1])


def _cell(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "n/a" if not np.isfinite(v) else f"{v:.4g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency), numbers to 4 significant digits."""
    from factory.evaluation.leaderboard_stats import COLUMNS

    # Contract columns always; the others only when some row has a value (an all-empty column is noise).
    cols = [c for c in table.columns if c in COLUMNS or c == "error"
            or not (table[c].isna() | (table[c].astype(str) == "")).all()]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(_cell(r[c]) for c in cols) + " |" for _, r in table.iterrows()]
    return "\n".join(lines) + "\n"


def write_tables(board, folder: Path) -> None:
    table = board.table
    table.to_csv(folder / "leaderboard.csv", index=False)
    notes = [f"CPCV: {board.plan.n_groups} groups, {board.plan.n_test_groups} test groups, "
             f"{board.plan.n_paths} paths; Sharpe annualised with the whole dataset's bar rate."]
    if board.pbo_reason:
        notes.append(f"PBO undefined: {board.pbo_reason}")
    (folder / "leaderboard.md").write_text("# CPCV leaderboard\n\n" + "\n".join(notes) + "\n\n" + markdown_table(table))
    html = table.to_html(index=False, na_rep="n/a", float_format=lambda v: f"{v:.4g}", border=0)
    (folder / "leaderboard.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>CPCV leaderboard</title>"
        "<style>table{border-collapse:collapse;font:12px sans-serif}td,th{padding:3px 8px;border-bottom:1px "
        "solid #ddd;text-align:right}</style></head><body><h1>CPCV leaderboard</h1><p>"
        + "<br>".join(notes) + "</p>" + html + "</body></html>")


def regime_matrix(board) -> pd.DataFrame:
    """Models x regimes table of mean per-path Sharpe (``sharpe_<kind>_<regime>`` columns)."""
    cols = [c for c in board.table.columns if c.startswith("sharpe_")]
    ok = board.table[board.table["error"] == ""].set_index("model")
    return ok[cols].rename(columns=lambda c: c[len("sharpe_"):])


def log_artifacts(board, folder: Path) -> None:
    """Leaderboard files at the root, plots under ``plots/`` of the parent run."""
    from factory.evaluation import plots

    write_tables(board, folder)
    if not board.paths:
        return
    (folder / "plots").mkdir()
    pnl = {k: p.pnl for k, p in board.paths.items()}
    plots.path_band_plot(board.timestamps, pnl, folder / "plots" / "equity_paths.png")
    plots.drawdown_plot(board.timestamps, {k: v.mean(axis=0) for k, v in pnl.items()},
                        folder / "plots" / "drawdown.png", title="Drawdown of the mean P&L over CPCV paths")
    matrix = regime_matrix(board)
    if matrix.shape[1]:
        plots.regime_heatmap_plot(matrix, folder / "plots" / "regime_sharpe_heatmap.png")
    for key, p in board.paths.items():
        plots.calibration_plot(p.y, p.proba, folder / "plots" / f"calibration_{key}.png",
                               title=f"{key}: calibration (CPCV test predictions)")
        plots.confusion_matrix_plot(p.y, LABELS[p.proba.argmax(axis=1)], folder / "plots" / f"confusion_{key}.png",
                                    title=f"{key}: confusion matrix (CPCV test)")


def log_trials(trials, folder: Path) -> None:
    """The barrier candidates' table (``trials.csv``, ``trials.md``) and their Sharpe plot, beside the leaderboard."""
    from factory.evaluation import plots

    t = trials.table
    t.to_csv(folder / "trials.csv", index=False)
    c = trials.trials[trials.chosen]
    notes = [f"{len(trials.trials)} barrier candidates proposed by the Optuna search on bars "
             f"[0, {trials.tuning_end:,}); every model evaluated under each on the same CPCV, on samples from bar {trials.tuning_end:,} on.",
             f"Train's choice (best tuning score): trial {c.number}, k_up {c.k_up:g}, k_down {c.k_down:g}, "
             f"horizon {c.horizon}; the leaderboard is that candidate's."]
    notes += [f"{k}: PBO across candidates undefined: {why}" for k, why in trials.reasons.items()]
    (folder / "trials.md").write_text("# Barrier candidates\n\n" + "\n\n".join(notes) + "\n\n" + markdown_table(t))
    (folder / "plots").mkdir(exist_ok=True)
    plots.trial_sharpe_plot(t, folder / "plots" / "trial_sharpe.png")


def log_child(board, key: str, parent_run_id: str) -> str:
    """One nested run for ``key``: its numbers, tables and plots, or its error (the run then ends FAILED)."""
    import mlflow

    # A nested run goes to the active experiment unless told: it belongs next to its parent.
    experiment_id = mlflow.active_run().info.experiment_id
    with mlflow.start_run(run_name=f"evaluate-{key}", nested=True, experiment_id=experiment_id,
                          tags={"mlflow.parentRunId": parent_run_id, "factory.model": key}) as child:
        run_id = child.info.run_id
        if key in board.errors:
            mlflow.set_tag("error", board.errors[key][:5000])
            mlflow.log_text(board.errors[key], "error.txt")
        else:
            _log_model_numbers(board, key)
    if key in board.errors:
        mlflow.MlflowClient().set_terminated(run_id, "FAILED")
    return run_id


def _log_model_numbers(board, key: str) -> None:
    import tempfile

    import mlflow

    from factory.evaluation import plots

    row = board.table.set_index("model").loc[key]
    mlflow.log_metrics({c: float(v) for c, v in row.items()
                        if isinstance(v, (int, float, np.number)) and np.isfinite(v)})
    if row["note"]:
        mlflow.set_tag("note", row["note"])
    p = board.paths[key]
    for i, s in enumerate(p.path_sharpe):
        if np.isfinite(s):
            mlflow.log_metric("path_net_sharpe", float(s), step=i)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        p.regimes.to_csv(folder / "regimes.csv", index=False)
        pd.DataFrame({"path": np.arange(len(p.path_sharpe)), "net_sharpe": p.path_sharpe,
                      "net_pnl_usd": p.pnl.sum(axis=1)}).to_csv(folder / "paths.csv", index=False)
        (folder / "plots").mkdir()
        plots.calibration_plot(p.y, p.proba, folder / "plots" / "calibration.png",
                               title=f"{key}: calibration (CPCV test predictions)")
        plots.confusion_matrix_plot(p.y, LABELS[p.proba.argmax(axis=1)], folder / "plots" / "confusion_matrix.png",
                                    title=f"{key}: confusion matrix (CPCV test)")
        plots.path_band_plot(board.timestamps, {key: p.pnl}, folder / "plots" / "equity_paths.png",
                             title=f"{key}: CPCV equity, band = min/max across paths")
        mlflow.log_artifacts(tmp)
