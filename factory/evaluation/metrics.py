"""Classification metrics of (down, flat, up) probabilities against triple-barrier labels (scikit-learn)."""

from __future__ import annotations

import numpy as np

LABELS = (-1, 0, 1)


def expected_calibration_error(y, proba, n_bins: int = 10) -> float:
    """Top-label expected calibration error: ``sum_b |B_b| / n * |accuracy(B_b) - mean confidence(B_b)|`` over
    ``n_bins`` equal-width bins of the predicted class's probability (Guo et al., 2017).

    Written here because scikit-learn has no ECE (``calibration_curve`` gives the bins of one class, not the
    weighted gap of the predicted class). 0 is perfectly calibrated; NaN without samples.
    """
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    if len(y) == 0:
        return float("nan")
    conf = p.max(axis=1)
    hit = (np.asarray(LABELS)[p.argmax(axis=1)] == y).astype(np.float64)
    # bin b holds confidences in (b / n_bins, (b + 1) / n_bins]; a confidence of exactly 0 goes to bin 0
    b = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    gap = np.abs(np.bincount(b, hit, n_bins) - np.bincount(b, conf, n_bins))
    return float(gap.sum() / count.sum())


def classification_metrics(y, proba, sample_weight=None) -> dict[str, float]:
    """``log_loss``, ``accuracy``, ``f1_macro``, multiclass ``brier`` (sum over classes, in [0, 2]) and ``ece``
    (:func:`expected_calibration_error`, unweighted).

    ``y`` holds labels in {-1, 0, 1}; ``proba`` is ``(n, 3)`` in the order (down, flat, up). The predicted class
    is the most probable one.
    """
    from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, log_loss

    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    if len(y) == 0:
        return {k: float("nan") for k in ("log_loss", "accuracy", "f1_macro", "brier", "ece")}
    pred = np.asarray(LABELS)[p.argmax(axis=1)]
    w = sample_weight
    return {
        "log_loss": float(log_loss(y, p, labels=list(LABELS), sample_weight=w)),
        "accuracy": float(accuracy_score(y, pred, sample_weight=w)),
        "f1_macro": float(f1_score(y, pred, labels=list(LABELS), average="macro", sample_weight=w,
                                   zero_division=0)),
        "brier": float(brier_score_loss(y, p, labels=list(LABELS), sample_weight=w)),
        "ece": expected_calibration_error(y, p),
    }
