"""Plots logged to MLflow. matplotlib is imported lazily with a non-interactive backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

LABEL_NAMES = {-1: "down", 0: "flat", 1: "up"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label_balance_plot(labels: np.ndarray, parts: dict[str, np.ndarray], path: str | Path) -> Path:
    """Bar chart of the down/flat/up share in each split part."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(parts), 1)
    for i, (name, rows) in enumerate(parts.items()):
        lab = labels[rows]
        shares = [np.mean(lab == v) if len(lab) else 0.0 for v in (-1, 0, 1)]
        xs = np.arange(3) + (i - (len(parts) - 1) / 2) * width
        ax.bar(xs, shares, width=width, label=f"{name} (n={len(lab):,})")
    ax.set_xticks(range(3), [LABEL_NAMES[v] for v in (-1, 0, 1)])
    ax.set_ylabel("share of samples")
    ax.set_title("Triple-barrier label balance (net of costs)")
    ax.set_ylim(0, max(ax.get_ylim()[1] * 1.25, 0.1))
    ax.legend(ncol=len(parts), loc="upper center", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def regime_plot(timestamps: pd.Series, close: np.ndarray, probs: np.ndarray, path: str | Path,
                train_end: int | None = None, max_points: int = 5000) -> Path:
    """Close price coloured by the most likely filtered regime, above the stacked regime probabilities."""
    plt = _plt()
    n = len(close)
    step = max(1, n // max_points)
    idx = np.arange(0, n, step)
    t = pd.to_datetime(timestamps.iloc[idx]).dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    p = probs[idx]
    valid = np.isfinite(p).all(axis=1)
    state = np.where(valid, np.nan_to_num(p).argmax(axis=1), -1)
    k = probs.shape[1]
    colors = plt.get_cmap("viridis")(np.linspace(0, 1, k))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    ax1.plot(t, close[idx], color="0.75", lw=0.6, zorder=1)
    for s in range(k):
        m = state == s
        ax1.scatter(t[m], close[idx][m], s=2, color=colors[s], label=f"state {s}", zorder=2)
    ax1.set_ylabel("close")
    ax1.set_title("Past-only HMM regimes (forward-filtered probabilities)")
    ax1.legend(markerscale=5, loc="upper left", fontsize=8)
    ax2.stackplot(t, np.nan_to_num(p).T, colors=colors)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("P(state | past)")
    if train_end is not None and 0 < train_end < n:
        for ax in (ax1, ax2):
            ax.axvline(pd.Timestamp(timestamps.iloc[train_end]).tz_convert("UTC").tz_localize(None),
                       color="red", ls="--", lw=1)
        ax1.text(0.01, 0.02, "red line: end of training data", transform=ax1.transAxes, fontsize=8, color="red")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _save(fig, plt, path: str | Path) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def confusion_matrix_plot(y: np.ndarray, pred: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (true class down / flat / up against predicted), with counts."""
    from sklearn.metrics import confusion_matrix

    plt = _plt()
    labels = [-1, 0, 1]
    cm = confusion_matrix(y, pred, labels=labels)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(3):
        for j in range(3):
            ax.text(j, i, f"{share[i, j]:.0%}\n({cm[i, j]:,})", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.6 else "black")
    names = [LABEL_NAMES[v] for v in labels]
    ax.set_xticks(range(3), names)
    ax.set_yticks(range(3), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "Confusion matrix")
    return _save(fig, plt, path)


def calibration_plot(y: np.ndarray, proba: np.ndarray, path: str | Path, n_bins: int = 10, title: str = "") -> Path:
    """One-vs-rest reliability curves of the three classes (mean predicted vs observed frequency per bin)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="perfect")
    edges = np.linspace(0, 1, n_bins + 1)
    for k, value in enumerate((-1, 0, 1)):
        p = proba[:, k]
        hit = (y == value).astype(float)
        idx = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
        count = np.bincount(idx, minlength=n_bins)
        keep = count > 0
        mean_p = np.bincount(idx, weights=p, minlength=n_bins)[keep] / count[keep]
        freq = np.bincount(idx, weights=hit, minlength=n_bins)[keep] / count[keep]
        ax.plot(mean_p, freq, marker="o", ms=3, label=LABEL_NAMES[value])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title(title or "Calibration (one vs rest)")
    ax.legend(fontsize=8)
    return _save(fig, plt, path)


def feature_importance_plot(importance: pd.Series, path: str | Path, top: int = 30, title: str = "") -> Path:
    """Horizontal bars of the ``top`` largest importances (e.g. total split gain)."""
    plt = _plt()
    imp = importance.sort_values(ascending=False).head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(imp) + 1.2))
    ax.barh(range(len(imp)), imp.to_numpy(), color="tab:blue")
    ax.set_yticks(range(len(imp)), [str(i) for i in imp.index], fontsize=7)
    ax.set_xlabel(str(importance.name or "importance"))
    ax.set_title(title or f"Feature importance (top {len(imp)})")
    return _save(fig, plt, path)


def equity_curve_plot(curves: dict[str, pd.Series], path: str | Path, title: str = "") -> Path:
    """Cumulative net P&L (USD per contract) of one or more backtests, each against its own timestamps."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4))
    for name, eq in curves.items():
        t = pd.DatetimeIndex(eq.index).tz_convert("UTC").tz_localize(None) if len(eq) else eq.index
        ax.plot(t, eq.to_numpy(), lw=1, label=f"{name} (final {eq.iloc[-1]:,.0f} USD)" if len(eq) else name)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_ylabel("net P&L, USD per contract")
    ax.set_title(title or "Equity curve (net of costs)")
    ax.legend(fontsize=8)
    return _save(fig, plt, path)


def training_curve_plot(history: list[dict], path: str | Path, best_epoch: int | None = None, title: str = "") -> Path:
    """Training and validation loss per epoch (the weighted cross-entropies the trainer minimises), the kept epoch
    marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = [row["epoch"] for row in history]
    for key, label in (("train_loss", "training"), ("val_loss", "validation (early stopping)")):
        values = [row.get(key) for row in history]
        if any(v is not None for v in values):
            ax.plot(epochs, values, marker="o", lw=1, label=label)
    if best_epoch is not None and best_epoch >= 0:
        ax.axvline(best_epoch, color="0.5", ls="--", lw=0.8, label=f"kept: epoch {best_epoch}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("weighted cross-entropy")
    ax.set_title(title or "Training curve")
    ax.legend(fontsize=8)
    return _save(fig, plt, path)


def _naive_utc(timestamps) -> np.ndarray:
    return pd.DatetimeIndex(pd.Series(timestamps)).tz_convert("UTC").tz_localize(None).to_numpy()


def path_band_plot(timestamps, path_pnl: dict[str, np.ndarray], path: str | Path, title: str = "") -> Path:
    """Per model, the mean equity over CPCV paths with the band of the paths' min and max (``path_pnl[key]``
    is ``(n_paths, T)`` net USD per bar)."""
    plt = _plt()
    t = _naive_utc(timestamps)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for key, pnl in path_pnl.items():
        eq = np.cumsum(np.asarray(pnl, dtype=np.float64), axis=1)
        line, = ax.plot(t, eq.mean(axis=0), lw=1, label=f"{key} (mean final {eq[:, -1].mean():,.0f} USD)")
        ax.fill_between(t, eq.min(axis=0), eq.max(axis=0), color=line.get_color(), alpha=0.15, lw=0)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_ylabel("net P&L, USD per contract")
    ax.set_title(title or "CPCV equity: mean over paths, band = min/max across paths")
    ax.legend(fontsize=7)
    return _save(fig, plt, path)


def drawdown_plot(timestamps, pnl: dict[str, np.ndarray], path: str | Path, title: str = "") -> Path:
    """Drawdown (USD below the running peak) of each model's per-bar P&L series."""
    plt = _plt()
    t = _naive_utc(timestamps)
    fig, ax = plt.subplots(figsize=(11, 3.8))
    for key, x in pnl.items():
        eq = np.cumsum(np.asarray(x, dtype=np.float64))
        peak = np.maximum.accumulate(np.maximum(eq, 0.0))
        ax.plot(t, eq - peak, lw=0.9, label=key)
    ax.set_ylabel("drawdown, USD per contract")
    ax.set_title(title or "Drawdown")
    ax.legend(fontsize=7)
    return _save(fig, plt, path)


def regime_heatmap_plot(table: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Models (rows) x regimes (columns) heatmap of annualised net Sharpe, values written in the cells."""
    plt = _plt()
    values = table.to_numpy(dtype=np.float64)
    lim = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    fig, ax = plt.subplots(figsize=(1.1 * values.shape[1] + 3, 0.45 * values.shape[0] + 2))
    ax.imshow(np.nan_to_num(values), cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(j, i, "n/a" if not np.isfinite(values[i, j]) else f"{values[i, j]:.1f}", ha="center",
                    va="center", fontsize=7)
    ax.set_xticks(range(values.shape[1]), [str(c) for c in table.columns], rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(values.shape[0]), [str(i) for i in table.index], fontsize=8)
    ax.set_title(title or "Net Sharpe by regime (mean over CPCV paths)")
    return _save(fig, plt, path)


def trial_sharpe_plot(table: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Mean CPCV net Sharpe of each barrier candidate (x: Optuna trial), one line per model; train's choice ringed."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for model, t in table[table["error"].fillna("") == ""].groupby("model", sort=False):
        t = t.sort_values("trial")
        line, = ax.plot(t["trial"], t["net_sharpe_mean"], marker="o", ms=4, lw=1, label=model)
        c = t[t["chosen"]]
        ax.scatter(c["trial"], c["net_sharpe_mean"], s=140, facecolors="none", edgecolors=line.get_color(), lw=2)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("Optuna trial (barrier candidate)")
    ax.set_ylabel("net Sharpe, mean over CPCV paths")
    ax.set_title(title or "Barrier candidates through the same CPCV (ring: the tuning score's choice)")
    ax.legend(fontsize=8)
    return _save(fig, plt, path)
