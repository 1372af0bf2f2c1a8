"""Post-hoc probability calibration on the validation split, saved as plain JSON.

Scheme (the one scikit-learn's ``CalibratedClassifierCV`` uses for multiclass): each class column is
calibrated one-vs-rest, then the three calibrated columns are floored at ``floor`` and renormalised so every
row is a finite distribution summing to 1.

* ``isotonic``: scikit-learn ``IsotonicRegression`` (increasing, clipped to [0, 1], out-of-range inputs
  clipped) of ``1[y == k]`` on ``p_k``; stored as its breakpoints and applied by linear interpolation between
  them, which is exactly what the fitted regressor does.
* ``sigmoid`` (Platt scaling on the logit): ``p'_k = expit(a_k * logit(p_k) + b_k)`` with ``a_k, b_k`` from an
  (almost) unregularised scikit-learn ``LogisticRegression``; stored as ``(a_k, b_k)``.

A class with no positive (or no negative) validation sample cannot be calibrated and maps to its
validation frequency (clipped to ``[floor, 1 - floor]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from factory.errors import ConfigError
from factory.models import _io
from factory.models._inputs import N_CLASSES, check_labels, check_weights
from factory.models.errors import ModelInputError, NotFittedError

CALIBRATION_FILE = "calibration.json"


def _logit(p: np.ndarray, floor: float) -> np.ndarray:
    q = np.clip(p, floor, 1.0 - floor)
    return np.log(q) - np.log1p(-q)


def check_proba(proba: Any, what: str = "proba") -> np.ndarray:
    arr = np.asarray(proba, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != N_CLASSES:
        raise ModelInputError(f"{what} must have shape (n, {N_CLASSES}), got {arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
        raise ModelInputError(f"{what} must hold finite probabilities in [0, 1]")
    return arr


class ProbabilityCalibrator:
    """One-vs-rest isotonic or sigmoid calibration of ``(n, 3)`` probabilities. See the module docstring."""

    def __init__(self, method: Literal["isotonic", "sigmoid"] = "isotonic", floor: float = 1e-6) -> None:
        if method not in ("isotonic", "sigmoid"):
            raise ConfigError(f"calibration method must be 'isotonic' or 'sigmoid', got {method!r}")
        if not 0 < floor < 1.0 / N_CLASSES:
            raise ConfigError(f"calibration floor must be in (0, 1/3), got {floor!r}")
        self.method = method
        self.floor = float(floor)

    def fit(self, proba: Any, y: Any, sample_weight: Any = None) -> "ProbabilityCalibrator":
        """Fit on validation probabilities ``proba`` (n, 3) and labels ``y`` in {-1, 0, 1}."""
        p = check_proba(proba)
        y_idx = check_labels(y, len(p))
        w = check_weights(sample_weight, len(p))
        self.params_ = [self._fit_class(p[:, k], (y_idx == k).astype(np.float64), w) for k in range(N_CLASSES)]
        return self

    def _fit_class(self, p: np.ndarray, target: np.ndarray, w: np.ndarray | None) -> dict[str, Any]:
        rate = float(np.average(target, weights=w))
        if rate in (0.0, 1.0):
            return {"constant": float(np.clip(rate, self.floor, 1.0 - self.floor))}
        if self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
            iso.fit(p, target, sample_weight=w)
            return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, tol=1e-10, max_iter=1000)
        lr.fit(_logit(p, self.floor)[:, None], target.astype(np.int64), sample_weight=w)
        return {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}

    def _apply_class(self, p: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        if "constant" in params:
            return np.full(len(p), params["constant"])
        if "x" in params:
            return np.interp(p, params["x"], params["y"])
        z = params["a"] * _logit(p, self.floor) + params["b"]
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without overflow for large |z|

    def transform(self, proba: Any) -> np.ndarray:
        """Calibrated ``(n, 3)`` probabilities: finite, each >= floor / 3, rows summing to 1."""
        if not hasattr(self, "params_"):
            raise NotFittedError("ProbabilityCalibrator.transform() called before fit()")
        p = check_proba(proba)
        out = np.column_stack([self._apply_class(p[:, k], self.params_[k]) for k in range(N_CLASSES)])
        out = np.clip(out, self.floor, 1.0)
        return out / out.sum(axis=1, keepdims=True)

    def fit_transform(self, proba: Any, y: Any, sample_weight: Any = None) -> np.ndarray:
        return self.fit(proba, y, sample_weight).transform(proba)

    def save(self, folder: str | Path) -> Path:
        if not hasattr(self, "params_"):
            raise NotFittedError("ProbabilityCalibrator.save() called before fit()")
        path = Path(folder) / CALIBRATION_FILE
        _io.write_json(path, {"method": self.method, "floor": self.floor, "classes": self.params_})
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "ProbabilityCalibrator":
        data = _io.read_json(Path(folder) / CALIBRATION_FILE)
        cal = cls(method=data["method"], floor=data["floor"])
        cal.params_ = data["classes"]
        return cal


def calibrate_on_validation(
    model: Any, X_val: Any, y_val: Any, method: Literal["isotonic", "sigmoid"] = "isotonic",
    sample_weight: Any = None,
) -> ProbabilityCalibrator:
    """A calibrator fitted on ``model.predict_proba(X_val)``; apply it with ``.transform(model.predict_proba(X))``."""
    return ProbabilityCalibrator(method).fit(model.predict_proba(X_val), y_val, sample_weight)
