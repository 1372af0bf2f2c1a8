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
