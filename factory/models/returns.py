"""Expected label-horizon log return and its quantiles from class probabilities.

Fitted on validation samples (their realised label-horizon log return and their class): for each class
``k`` (down, flat, up) we keep the mean ``m_k`` and a quantile function ``Q_k`` on a grid of ``n_grid``
probability levels ``tau = 0, 1/(n_grid-1), ..., 1``. Plotting positions are the weighted mid-ranks
``(cumsum(w) - w/2) / sum(w)``, interpolated linearly (levels beyond the extreme positions take the extreme
returns), so ``Q_k(0)`` and ``Q_k(1)`` are the class's smallest and largest return.

For predicted probabilities ``p`` the return distribution is the mixture ``F(r) = sum_k p_k F_k(r)``, with
``F_k`` the piecewise-linear CDF through the points ``(Q_k(tau), tau)``:

* ``expected_return = sum_k p_k m_k``;
* ``ret_qXX`` = the smallest ``r`` with ``F(r) >= XX/100``, found on the union of all class grids and
  interpolated linearly between neighbours. Every class CDF is linear between consecutive points of that
  union, so the inversion is exact for the mixture; with all mass on one class it returns that class's
  quantile function.

A class with no validation sample borrows the pooled distribution of all samples (listed in ``pooled_``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from factory.errors import ConfigError
from factory.models import _io
from factory.models._inputs import CLASS_NAMES, N_CLASSES, check_labels, check_weights
from factory.models.calibration import check_proba
from factory.models.errors import ModelInputError, NotFittedError

RETURNS_FILE = "returns.json"
_CHUNK = 8192  # rows per block when inverting the mixture CDF (bounds memory at CHUNK x 3 n_grid floats)


def _quantile_grid(r: np.ndarray, w: np.ndarray, tau: np.ndarray) -> np.ndarray:
    order = np.argsort(r, kind="stable")
    rs, ws = r[order], w[order]
    pos = (np.cumsum(ws) - 0.5 * ws) / ws.sum()
    return np.interp(tau, pos, rs)


def _cdf(q: np.ndarray, tau: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Right-continuous piecewise-linear CDF through ``(q, tau)`` evaluated at ``r`` (``q`` non-decreasing)."""
    j = np.searchsorted(q, r, side="right")  # number of grid points <= r
    lo = np.clip(j - 1, 0, len(q) - 1)
    hi = np.clip(j, 0, len(q) - 1)
    dq = q[hi] - q[lo]
    frac = np.divide(r - q[lo], dq, out=np.zeros_like(r, dtype=np.float64), where=dq > 0)
    out = tau[lo] + frac * (tau[hi] - tau[lo])
    out[j == 0] = 0.0
    out[j >= len(q)] = 1.0
    return out


class ReturnDistribution:
    """Class-conditional return distributions mixed by predicted probabilities. See the module docstring."""

    def __init__(self, quantiles: Sequence[float] = (0.05, 0.5, 0.95), n_grid: int = 101) -> None:
        qs = [float(q) for q in quantiles]
        if not qs or any(not 0 < q < 1 for q in qs):
            raise ConfigError(f"return quantiles must lie strictly between 0 and 1, got {list(quantiles)}")
        if int(n_grid) < 3:
            raise ConfigError(f"n_grid must be >= 3, got {n_grid}")
        self.quantiles = qs
        self.n_grid = int(n_grid)

    @property
    def columns(self) -> list[str]:
        """Output column names: ``expected_return`` then ``ret_q05``-style names, one per quantile."""
        return ["expected_return"] + [self._qname(q) for q in self.quantiles]

    @staticmethod
    def _qname(q: float) -> str:
        pct = q * 100
        return f"ret_q{int(round(pct)):02d}" if abs(pct - round(pct)) < 1e-9 else f"ret_q{pct:g}".replace(".", "_")

    def fit(self, returns: Any, y: Any, sample_weight: Any = None) -> "ReturnDistribution":
        """Fit on validation label-horizon log ``returns`` and labels ``y`` in {-1, 0, 1}."""
        r = np.asarray(returns, dtype=np.float64)
        if r.ndim != 1 or len(r) == 0:
            raise ModelInputError(f"returns must be a non-empty 1-D array, got shape {r.shape}")
        if not np.isfinite(r).all():
            raise ModelInputError(f"returns hold non-finite values (first at row {int(np.argmax(~np.isfinite(r)))})")
        y_idx = check_labels(y, len(r))
        w = check_weights(sample_weight, len(r))
        w = np.ones(len(r)) if w is None else w
        tau = np.linspace(0.0, 1.0, self.n_grid)
        grids, means, pooled = [], [], []
        for k in range(N_CLASSES):
            sel = (y_idx == k) & (w > 0)
            if not sel.any():
                sel = w > 0
                pooled.append(CLASS_NAMES[k])
            grids.append(_quantile_grid(r[sel], w[sel], tau))
            means.append(float(np.average(r[sel], weights=w[sel])))
        self.tau_ = tau
        self.grid_ = np.vstack(grids)
        self.mean_ = np.array(means)
        self.pooled_ = pooled
        return self

    def _require_fitted(self) -> None:
        if not hasattr(self, "grid_"):
            raise NotFittedError("ReturnDistribution used before fit()")

    def expected_return(self, proba: Any) -> np.ndarray:
        self._require_fitted()
        return check_proba(proba) @ self.mean_

    def quantile(self, proba: Any, levels: Sequence[float]) -> np.ndarray:
        """Quantiles of the mixture, shape ``(n, len(levels))``."""
        self._require_fitted()
        p = check_proba(proba)
        p = p / p.sum(axis=1, keepdims=True)
        alpha = np.asarray(levels, dtype=np.float64)
        support = np.unique(self.grid_)
        # CDF of each class on the common support: (3, m); the mixture CDF of a row is p @ that.
        class_cdf = np.vstack([_cdf(self.grid_[k], self.tau_, support) for k in range(N_CLASSES)])
        out = np.empty((len(p), len(alpha)))
        for start in range(0, len(p), _CHUNK):
            F = np.minimum(p[start:start + _CHUNK] @ class_cdf, 1.0)
            F[:, -1] = 1.0  # guards against rounding below 1 at the top of the support
            for j, a in enumerate(alpha):
                i = np.argmax(F >= a - 1e-12, axis=1)
                prev = np.maximum(i - 1, 0)
                rows = np.arange(len(F))
                f0, f1 = F[rows, prev], F[rows, i]
                r0, r1 = support[prev], support[i]
                frac = np.divide(a - f0, f1 - f0, out=np.ones_like(f0), where=f1 > f0)
                out[start:start + len(F), j] = np.where(i == 0, support[0], r0 + np.clip(frac, 0, 1) * (r1 - r0))
        return out

    def predict(self, proba: Any) -> pd.DataFrame:
        """``expected_return`` and one ``ret_qXX`` column per configured quantile, one row per input row."""
        values = np.column_stack([self.expected_return(proba), self.quantile(proba, self.quantiles)])
        return pd.DataFrame(values, columns=self.columns)

    def save(self, folder: str | Path) -> Path:
        self._require_fitted()
        path = Path(folder) / RETURNS_FILE
        _io.write_json(path, {"quantiles": self.quantiles, "n_grid": self.n_grid, "tau": self.tau_,
                              "grid": self.grid_, "mean": self.mean_, "pooled": self.pooled_})
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "ReturnDistribution":
        data = _io.read_json(Path(folder) / RETURNS_FILE)
        out = cls(quantiles=data["quantiles"], n_grid=data["n_grid"])
        out.tau_ = np.asarray(data["tau"], dtype=np.float64)
        out.grid_ = np.asarray(data["grid"], dtype=np.float64)
        out.mean_ = np.asarray(data["mean"], dtype=np.float64)
        out.pooled_ = list(data["pooled"])
        return out
