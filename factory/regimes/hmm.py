"""Past-only Gaussian HMM regimes: train-only fit, forward-only (filtered) state probabilities.

Pipeline:

1. :func:`hmm_inputs` turns bars into causal observation vectors ``x_t`` (row t uses bars <= t).
2. :class:`RegimeHMM` fits a Gaussian HMM (hmmlearn's EM) on training rows only, standardising with the
   training rows' own mean and standard deviation, and relabels the states so that state 0 is the calmest.
3. :meth:`RegimeHMM.filter_proba` returns FILTERED probabilities from the forward recursion alone, so the
   probability at row t never depends on a later row; and it runs over a fixed lag of K = ``filter_lag`` rows
   from the stationary prior, ``P(s_t = k | x_{t-K+1}..x_t)``, so it never depends on more than K rows of the
   past either: a served request of ``lookback + 1`` bars gets exactly the probabilities training saw.

Why the forward recursion is hand-written: hmmlearn's ``predict``, ``predict_proba``, ``decode`` and
``score_samples`` all run forward-backward (or Viterbi) over the whole sequence they are given, i.e. they return
SMOOTHED posteriors ``P(s_t | x_1..x_T)`` that depend on observations after t. Used as features, those leak the
future. hmmlearn has no public filtering API, so the (short) forward pass lives in :func:`_fixed_lag_filter`.

Why a fixed lag: the filter's memory of its starting point decays geometrically but never vanishes, so an
unbounded filter gives a different probability at the same bar depending on where the series started (the
history of a training set versus a short served request). Restarting from the stationary prior K rows back,
for every row, makes the output a function of those K rows only, and exactly reproducible; the price is
O(n K S^2) work instead of O(n S^2), which the compiled kernel keeps cheap (about 0.5 s per 100k rows).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from numba import njit

from factory.errors import ConfigError, FactoryError
from factory.regimes.config import RegimeConfig

STATE_FILE = "regime_hmm.json"
_FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------------------------------
# Observations
# --------------------------------------------------------------------------------------------------------------

def hmm_inputs(bars: pd.DataFrame, vol_window: int = 30) -> np.ndarray:
    """Causal HMM observations, shape ``(n, 3)``, float64.

    Columns (row t uses bars <= t only):

    0. ``r_t = log(C_t / C_{t-1})``, the 1-bar log return (NaN at t = 0);
    1. ``g_t = log(H_t / L_t)``, the bar's log range (a one-bar volatility estimate that is robust to
       close-to-close noise);
    2. ``v_t = sqrt(mean(r_{t-w+1}^2 .. r_t^2))``, realised volatility over the last ``w = vol_window`` returns
       (NaN until ``w`` returns exist), which gives the HMM a smoother view of the volatility level.

    The first ``vol_window`` rows contain NaN (warm-up); :class:`RegimeHMM` skips them when fitting and reports
    NaN probabilities for them. No scaling happens here: the HMM standardises with train-only statistics.
    """
    if vol_window < 1:
        raise ConfigError(f"vol_window must be >= 1, got {vol_window}")
    close = bars["close"].to_numpy(np.float64)
    high = bars["high"].to_numpy(np.float64)
    low = bars["low"].to_numpy(np.float64)
    n = close.shape[0]
    out = np.full((n, 3), np.nan)
    if n == 0:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        out[1:, 0] = np.log(close[1:] / close[:-1])
        out[:, 1] = np.log(high / low)
    # Each window's mean is taken over its own values (not a running sum), so the value at t is the same to
    # the last bit whatever came before the window: the HMM probabilities inherit that.
    if n > vol_window:
        sq = np.lib.stride_tricks.sliding_window_view(out[1:, 0] ** 2, vol_window)
        out[vol_window:, 2] = np.sqrt(sq.mean(axis=1))
    out[~np.isfinite(out)] = np.nan
    return out


# --------------------------------------------------------------------------------------------------------------
# Numerical kernels
# --------------------------------------------------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _fixed_lag_filter(b, bad_before, init, transmat, lag, rows):  # pragma: no cover - compiled
    """Normalised forward recursion over the ``lag`` rows ending at each row of ``rows``.

    ``b``: emission likelihoods scaled per row (row maximum 1, so no underflow); ``bad_before[t]``: number of
    rows before t without a valid observation. For a target row t with window ``u = t - lag + 1 .. t``:
        alpha_u0(k) ∝ init(k) * b_u0(k)
        alpha_u(k)  ∝ (sum_j alpha_{u-1}(j) * A[j, k]) * b_u(k)
    and the output is alpha_t. A window that starts before row 0 or holds an invalid observation is NaN. If
    every state is impossible at a step (all products 0), the prediction is kept rather than divided by zero.
    """
    n, k = b.shape
    out = np.full((rows.shape[0], k), np.nan)
    alpha = np.empty(k)
    pred = np.empty(k)
    for r in range(rows.shape[0]):
        t = rows[r]
        lo = t - lag + 1
        if lo < 0 or bad_before[t + 1] - bad_before[lo] > 0:
            continue
        tot = 0.0
        for s in range(k):
            alpha[s] = init[s] * b[lo, s]
            tot += alpha[s]
        if tot > 0.0:
            for s in range(k):
                alpha[s] /= tot
        else:
            for s in range(k):
                alpha[s] = init[s]
        for u in range(lo + 1, t + 1):
            tot = 0.0
            for s in range(k):
                acc = 0.0
                for j in range(k):
                    acc += alpha[j] * transmat[j, s]
                pred[s] = acc
            for s in range(k):
                alpha[s] = pred[s] * b[u, s]
                tot += alpha[s]
            if tot > 0.0:
                for s in range(k):
                    alpha[s] /= tot
            else:
                for s in range(k):
                    alpha[s] = pred[s]
        for s in range(k):
            out[r, s] = alpha[s]
    return out


def _gaussian_log_density(z: np.ndarray, means: np.ndarray, covars: np.ndarray) -> np.ndarray:
    """``log N(z_t; mu_k, Sigma_k)`` for every row and state, shape ``(n, k)``; rows with NaN give NaN.

    ``log N = -0.5 * (d log 2π + log|Σ| + (z-μ)ᵀ Σ⁻¹ (z-μ))`` via the Cholesky factor ``Σ = L Lᵀ``
    (``|Σ| = prod(diag L)^2``, the quadratic form is ``||L⁻¹ (z-μ)||²``).
    """
    n, d = z.shape
    k = means.shape[0]
    out = np.empty((n, k))
    for s in range(k):  # loop over the few states, vectorised over rows
        chol = np.linalg.cholesky(covars[s])
        diff = z - means[s]
        sol = np.linalg.solve(chol, diff.T)  # (d, n)
        maha = np.einsum("ij,ij->j", sol, sol)
        logdet = 2.0 * np.sum(np.log(np.diag(chol)))
        out[:, s] = -0.5 * (d * np.log(2.0 * np.pi) + logdet + maha)
    return out


def stationary_distribution(transmat: np.ndarray) -> np.ndarray:
    """Left eigenvector of ``A`` for eigenvalue 1 (``pi A = pi``, ``sum pi = 1``), solved as a linear system."""
    k = transmat.shape[0]
    a = np.vstack([transmat.T - np.eye(k), np.ones((1, k))])
    b = np.zeros(k + 1)
    b[-1] = 1.0
    pi, *_ = np.linalg.lstsq(a, b, rcond=None)
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


# --------------------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------------------

class RegimeHMM:
    """Gaussian HMM regimes fitted on the past only.

    ``fit(X, train_end)`` uses rows ``< train_end`` only (at most the most recent ``config.max_fit_rows`` valid
    ones), standardises them with their own mean/std (``z = (x - mean_) / scale_``) and runs hmmlearn's EM
    (seeded). States are then relabelled by ascending variance of the standardised return (column 0), so state 0
    is the calmest and state ``k-1`` the most volatile whatever labels the EM happened to produce.

    ``filter_proba(X)`` returns ``P(s_t | x_{t-K+1}..x_t)`` (forward recursion only, over the last K =
    ``config.filter_lag`` rows). The prior at the start of each window is the stationary distribution of the
    fitted transition matrix, not hmmlearn's ``startprob_``: EM estimates ``startprob_`` from a single
    sequence's first row, so it is a near one-hot artefact of where the training window began. Rows whose
    window reaches before row 0 or holds a NaN row are NaN.

    Fitted attributes: ``mean_``, ``scale_``, ``startprob_``, ``transmat_``, ``means_``, ``covars_`` (full
    ``(k, d, d)`` matrices in standardised units), ``fit_start_``, ``fit_end_``, ``n_fit_rows_``,
    ``log_likelihood_``, ``converged_``, ``n_iter_``.
    """

    def __init__(self, config: RegimeConfig | None = None):
        self.config = config

    # -- fitting ---------------------------------------------------------------------------------------------
    def _cfg(self) -> RegimeConfig:
        return self.config if self.config is not None else RegimeConfig()

    def fit(self, X: np.ndarray, train_end: int | None = None) -> "RegimeHMM":
        """Fit on the most recent ``config.max_fit_rows`` NaN-free rows among rows ``< train_end``.

        ``train_end=None`` means all rows. Rows with a NaN (the warm-up of :func:`hmm_inputs`) are dropped;
        interior ones, if any, join the pieces around them into one sequence, which is harmless for a few rows.
        """

        cfg = self._cfg()
        X = _as_2d(X)
        n = X.shape[0]
        end = n if train_end is None else int(train_end)
        if end < 0 or end > n:
            raise ConfigError(f"train_end={train_end} outside [0, {n}]")
        valid = np.isfinite(X[:end]).all(axis=1)
        rows = np.flatnonzero(valid)[-cfg.max_fit_rows:]
        min_rows = max(10 * cfg.n_states, 50)
        if rows.size < min_rows:
            raise FactoryError(
                f"HMM needs at least {min_rows} valid training rows before row {end}, got {rows.size}"
            )
        x = X[rows]
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)  # a constant column carries no information; keep it finite
        z = (x - mean) / scale

        hmm_log = logging.getLogger("hmmlearn")
        old_level = hmm_log.level
        hmm_log.setLevel(logging.ERROR)  # "not converging" chatter on flat likelihood plateaus
        try:
            try:
                model = self._em(cfg, "scaling").fit(z)
            except ValueError:
                # The scaled forward pass underflows on extreme outliers (a price jump of tens of sigmas);
                # the log-space implementation is slower but cannot underflow.
                model = self._em(cfg, "log").fit(z)
        finally:
            hmm_log.setLevel(old_level)

        if not (np.isfinite(model.transmat_).all() and np.isfinite(model.means_).all()):
            raise FactoryError(
                "HMM fit produced non-finite parameters (a state never visited); use fewer states or more rows"
            )
        covars = np.asarray(model.covars_, dtype=np.float64)  # always (k, d, d), whatever covariance_type
        order = np.argsort(covars[:, 0, 0], kind="stable")
        self.mean_ = mean
        self.scale_ = scale
        self.startprob_ = np.asarray(model.startprob_, np.float64)[order]
        self.transmat_ = np.asarray(model.transmat_, np.float64)[np.ix_(order, order)]
        self.means_ = np.asarray(model.means_, np.float64)[order]
        self.covars_ = covars[order]
        self.fit_start_ = int(rows[0])
        self.fit_end_ = int(end)
        self.n_fit_rows_ = int(rows.size)
        self.log_likelihood_ = float(model.monitor_.history[-1]) if model.monitor_.history else float("nan")
        self.converged_ = bool(model.monitor_.converged)
        self.n_iter_ = int(model.monitor_.iter)
        return self

    @staticmethod
    def _em(cfg: RegimeConfig, implementation: str):
        from hmmlearn.hmm import GaussianHMM  # heavy import kept lazy

        return GaussianHMM(
            n_components=cfg.n_states,
            covariance_type=cfg.covariance_type,
            n_iter=cfg.n_iter,
            tol=cfg.tol,
            random_state=cfg.seed,
            implementation=implementation,
        )

    # -- inference -------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "transmat_"):
            raise FactoryError("RegimeHMM is not fitted; call fit() or load() first")

    def log_emission(self, X: np.ndarray) -> np.ndarray:
        """Per-state Gaussian log densities of the standardised rows, shape ``(n, k)`` (NaN rows give NaN)."""
        self._check_fitted()
        X = _as_2d(X)
        if X.shape[1] != self.means_.shape[1]:
            raise ConfigError(f"X has {X.shape[1]} columns, the model was fitted on {self.means_.shape[1]}")
        z = (X - self.mean_) / self.scale_
        return _gaussian_log_density(z, self.means_, self.covars_)

    def initial_distribution(self) -> np.ndarray:
        """Prior of the first valid row: the stationary distribution of ``transmat_`` (solved once)."""
        self._check_fitted()
        cached = getattr(self, "_stationary", None)
        if cached is None or cached[0] is not self.transmat_:
            cached = (self.transmat_, stationary_distribution(self.transmat_))
            self._stationary = cached
        return cached[1]

    @property
    def lookback(self) -> int:
        """Bars before t that the probability at t reads: the observations' window plus the filter's lag."""
        cfg = self._cfg()
        return int(cfg.input_vol_window + cfg.filter_lag - 1)

    def filter_proba(self, X: np.ndarray, rows=None) -> np.ndarray:
        """Fixed-lag filtered probabilities, shape ``(len(rows), k)`` (all rows by default); row t uses rows
        ``t - filter_lag + 1 .. t`` only.

        Rows whose window reaches before row 0 or holds a row with NaN are NaN; every other row is finite,
        non-negative and sums to 1.
        """
        X = _as_2d(X)
        n = X.shape[0]
        rows = np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise ConfigError(f"rows must lie in [0, {n})")
        lag = int(self._cfg().filter_lag)
        # Only the rows the windows read need emissions (a served request asks for its last row alone).
        lo = max(0, int(rows.min()) - lag + 1) if rows.size else n
        log_b = self.log_emission(X[lo:])
        valid = np.isfinite(log_b).all(axis=1)
        log_b = np.where(valid[:, None], log_b, 0.0)
        b = np.exp(log_b - log_b.max(axis=1, keepdims=True))
        # Rows before `lo` count as missing: no window of a requested row reaches them.
        bad_before = np.concatenate([np.arange(lo + 1), lo + np.cumsum(~valid)]).astype(np.int64)
        b = np.concatenate([np.ones((lo, b.shape[1])), b]) if lo else b
        return _fixed_lag_filter(b, bad_before, self.initial_distribution(), self.transmat_, lag, rows)

    def filter_states(self, X: np.ndarray) -> np.ndarray:
        """Most probable filtered state per row (int64), -1 where the probabilities are NaN."""
        p = self.filter_proba(X)
        ok = np.isfinite(p).all(axis=1)
        out = np.full(p.shape[0], -1, dtype=np.int64)
        out[ok] = np.argmax(p[ok], axis=1)
        return out

    # -- persistence -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        self._check_fitted()
        return {
            "format_version": _FORMAT_VERSION,
            "config": self._cfg().model_dump(mode="json"),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "startprob": self.startprob_.tolist(),
            "transmat": self.transmat_.tolist(),
            "means": self.means_.tolist(),
            "covars": self.covars_.tolist(),
            "fit_start": self.fit_start_,
            "fit_end": self.fit_end_,
            "n_fit_rows": self.n_fit_rows_,
            "log_likelihood": self.log_likelihood_,
            "converged": self.converged_,
            "n_iter": self.n_iter_,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "RegimeHMM":
        if d.get("format_version") != _FORMAT_VERSION:
            raise ConfigError(f"unsupported regime model format_version {d.get('format_version')!r}")
        obj = cls(RegimeConfig.from_dict(d["config"], where="regime_hmm.config"))
        obj.mean_ = np.asarray(d["mean"], np.float64)
        obj.scale_ = np.asarray(d["scale"], np.float64)
        obj.startprob_ = np.asarray(d["startprob"], np.float64)
        obj.transmat_ = np.asarray(d["transmat"], np.float64)
        obj.means_ = np.asarray(d["means"], np.float64)
        obj.covars_ = np.asarray(d["covars"], np.float64)
        obj.fit_start_ = int(d["fit_start"])
        obj.fit_end_ = int(d["fit_end"])
        obj.n_fit_rows_ = int(d["n_fit_rows"])
        obj.log_likelihood_ = float(d["log_likelihood"])
        obj.converged_ = bool(d["converged"])
        obj.n_iter_ = int(d["n_iter"])
        return obj

    def save(self, directory: str | Path) -> Path:
        """Write ``regime_hmm.json`` (Python's float repr round-trips float64 exactly) and return its path."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        f = path / STATE_FILE
        f.write_text(json.dumps(self.to_dict(), indent=1))
        return f

    @classmethod
    def load(cls, directory: str | Path) -> "RegimeHMM":
        f = Path(directory) / STATE_FILE
        if not f.is_file():
            raise ConfigError(f"no saved regime model at {f}")
        return cls.from_dict(json.loads(f.read_text()))


def _as_2d(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ConfigError(f"X must be 2-D (rows x features), got shape {X.shape}")
    return X
