"""Classification metrics of (down, flat, up) probabilities against triple-barrier labels (scikit-learn)."""

from __future__ import annotations

import numpy as np

LABELS = (-1, 0, 1)


def classification_metrics(y, proba, sample_weight=None) -> dict[str, float]:
    """``log_loss``, ``accuracy``, ``f1_macro`` and multiclass ``brier`` (sum over classes, in [0, 2]).

    ``y`` holds labels in {-1, 0, 1}; ``proba`` is ``(n, 3)`` in the order (down, flat, up). The predicted class
    is the most probable one.
    """
    from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, log_loss

    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    if len(y) == 0:
        return {k: float("nan") for k in ("log_loss", "accuracy", "f1_macro", "brier")}
    pred = np.asarray(LABELS)[p.argmax(axis=1)]
    w = sample_weight
    return {
        "log_loss": float(log_loss(y, p, labels=list(LABELS), sample_weight=w)),
        "accuracy": float(accuracy_score(y, pred, sample_weight=w)),
        "f1_macro": float(f1_score(y, pred, labels=list(LABELS), average="macro", sample_weight=w,
                                   zero_division=0)),
        "brier": float(brier_score_loss(y, p, labels=list(LABELS), sample_weight=w)),
    }


def expected_calibration_error(y, proba, n_bins: int = 10) -> float:
    """Top-label expected calibration error: ``sum_b n_b / n * |accuracy_b - confidence_b|``.

    The confidence of a prediction is its largest class probability; predictions are put into ``n_bins``
    equal-width confidence bins on [0, 1] (the top bin closed), and in each bin the share of correct top-label
    predictions is compared with the mean confidence. 0 is perfectly calibrated; NaN for no samples.
    """
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    if len(y) == 0:
        return float("nan")
    conf = p.max(axis=1)
    correct = (np.asarray(LABELS)[p.argmax(axis=1)] == y).astype(np.float64)
    bins = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    gap = np.abs(np.bincount(bins, correct, n_bins) - np.bincount(bins, conf, n_bins))
    return float(gap.sum() / count.sum())
