"""Past-only Gaussian HMM regimes: train-only fit, forward-only (filtered) state probabilities.

Pipeline:

1. :func:`hmm_inputs` turns bars into causal observation vectors ``x_t`` (row t uses bars <= t).
2. :class:`RegimeHMM` fits a Gaussian HMM (hmmlearn's EM) on training rows only, standardising with the
   training rows' own mean and standard deviation, and relabels the states so that state 0 is the calmest.
3. :meth:`RegimeHMM.filter_proba` returns the FILTERED probabilities ``P(s_t = k | x_1..x_t)`` from the forward
   recursion alone, so the probability at row t never depends on a later row.
4. :func:`walk_forward_proba` refits on the expanding past every ``refit_every`` rows.

Why the forward recursion is hand-written: hmmlearn's ``predict``, ``predict_proba``, ``decode`` and
``score_samples`` all run forward-backward (or Viterbi) over the whole sequence they are given, i.e. they return
SMOOTHED posteriors ``P(s_t | x_1..x_T)`` that depend on observations after t. Used as features, those leak the
future. hmmlearn has no public filtering API, so the (short) forward pass lives in :func:`_forward_filter`.
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
    sq = pd.Series(out[:, 0] ** 2)
    out[:, 2] = np.sqrt(sq.rolling(vol_window, min_periods=vol_window).mean().to_numpy())
    out[~np.isfinite(out)] = np.nan
    return out


# --------------------------------------------------------------------------------------------------------------
# Numerical kernels
# --------------------------------------------------------------------------------------------------------------

@njit(cache=True)
def _forward_filter(log_b, valid, init, transmat):  # pragma: no cover - compiled
    """Normalised forward recursion (filtering).

    ``alpha_t(k) = P(s_t = k | x_1..x_t)``:
        alpha_first(k) ∝ init(k) * b_first(k)
        alpha_t(k)     ∝ (sum_j alpha_{t-1}(j) * A[j, k]) * b_t(k)
    computed in log space per step (``b`` enters as log densities, the max is subtracted before ``exp``) so no
    emission underflows. A row whose observation is missing (``valid[t]`` false) after the first valid row gets
    the one-step prediction ``alpha_{t-1} @ A`` (the exact HMM update for a missing observation). Rows before the
    first valid observation are NaN.
    """
    n, k = log_b.shape
    out = np.full((n, k), np.nan)
    alpha = np.empty(k)
    pred = np.empty(k)
    w = np.empty(k)
    started = False
    for t in range(n):
        if not started:
            if not valid[t]:
                continue
            for s in range(k):
                pred[s] = init[s]
            started = True
        else:
            for s in range(k):
                acc = 0.0
                for j in range(k):
                    acc += alpha[j] * transmat[j, s]
                pred[s] = acc
        if valid[t]:
            m = -np.inf
            for s in range(k):
                w[s] = np.log(pred[s]) + log_b[t, s]
                if w[s] > m:
                    m = w[s]
            if m == -np.inf:  # every state impossible: keep the prediction rather than divide by zero
                for s in range(k):
                    alpha[s] = pred[s]
            else:
                tot = 0.0
                for s in range(k):
                    w[s] = np.exp(w[s] - m)
                    tot += w[s]
                for s in range(k):
                    alpha[s] = w[s] / tot
        else:
            for s in range(k):
                alpha[s] = pred[s]
        for s in range(k):
            out[t, s] = alpha[s]
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

    ``filter_proba(X)`` returns ``P(s_t | x_1..x_t)`` (forward recursion only). The prior of the first valid row
    is the stationary distribution of the fitted transition matrix, not hmmlearn's ``startprob_``: EM estimates
    ``startprob_`` from a single sequence's first row, so it is a near one-hot artefact of where the training
    window began. Rows before the first valid (NaN-free) row are NaN.

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
        """Prior of the first valid row: the stationary distribution of ``transmat_``."""
        self._check_fitted()
        return stationary_distribution(self.transmat_)

    def filter_proba(self, X: np.ndarray) -> np.ndarray:
        """Filtered probabilities ``P(s_t = k | x_1..x_t)``, shape ``(n, k)``; row t uses rows <= t only.

        Rows before the first NaN-free row are NaN; a later NaN row gets the one-step prediction
        ``p_{t-1} @ A``. Every other row is finite, non-negative and sums to 1.
        """
        X = _as_2d(X)
        log_b = self.log_emission(X)
        valid = np.isfinite(log_b).all(axis=1)
        log_b = np.where(valid[:, None], log_b, 0.0)
        return _forward_filter(log_b, valid, self.initial_distribution(), self.transmat_)

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


# --------------------------------------------------------------------------------------------------------------
# Walk-forward mode
# --------------------------------------------------------------------------------------------------------------

def refit_points(n: int, start: int, refit_every: int) -> np.ndarray:
    """Refit rows ``start, start + refit_every, ...`` below ``n`` (``[start]`` alone when ``start >= n``)."""
    return np.arange(start, max(n, start + 1), refit_every, dtype=np.int64)


def walk_forward_proba(X: np.ndarray, config: RegimeConfig | None = None, start: int | None = None,
                       fill_before_start: bool = False, return_models: bool = False):
    """Walk-forward filtered probabilities: refit every ``config.refit_every`` rows on the expanding past.

    With refit rows ``r_0 = start < r_1 = start + refit_every < ...``, model ``m_i`` is fitted on rows
    ``< r_i`` (the most recent ``max_fit_rows`` of them) and supplies the probabilities of rows
    ``[r_i, r_{i+1})``.

    How the forward recursion continues across a refit: the new model's states are not the old model's states
    (different parameters, possibly a different ordering of similar states), so the old ``alpha`` cannot be
    carried over. Instead ``m_i`` runs its own forward filter from the first row of its fit window
    (``m_i.fit_start_``, a row ``< r_i``) through ``r_{i+1} - 1``, and only rows ``[r_i, r_{i+1})`` are kept.
    Every kept row t therefore depends on parameters fitted on rows ``< r_i <= t`` and on observations
    ``<= t``: the output is causal. The burn-in over the fit window makes the filter's state at ``r_i`` as
    informed as if the model had been running all along (its memory of the initial prior decays geometrically).

    Rows ``< start`` are NaN unless ``fill_before_start``: then they get ``m_0``'s filtered probabilities, which
    are in-sample (``m_0`` was fitted on those very rows, exactly what mode "once" gives training rows).
    ``start`` defaults to ``refit_every`` (the first model needs a past to fit on).
    Returns the ``(n, k)`` array, and the list of fitted models when ``return_models``.
    """
    cfg = config if config is not None else RegimeConfig()
    X = _as_2d(X)
    n = X.shape[0]
    start = cfg.refit_every if start is None else int(start)
    if start <= 0 or start > n:
        raise ConfigError(f"walk-forward start must be in [1, {n}], got {start}")
    out = np.full((n, cfg.n_states), np.nan)
    points = refit_points(n, start, cfg.refit_every)
    models = []
    for i, r in enumerate(points):
        stop = int(points[i + 1]) if i + 1 < len(points) else n
        model = RegimeHMM(cfg).fit(X, train_end=int(r))
        lo = 0 if (i == 0 and fill_before_start) else model.fit_start_
        p = model.filter_proba(X[lo:stop])
        keep_from = lo if (i == 0 and fill_before_start) else int(r)
        out[keep_from:stop] = p[keep_from - lo:]
        models.append(model)
    return (out, models) if return_models else out


def regime_proba(X: np.ndarray, config: RegimeConfig | None = None, train_end: int | None = None) -> np.ndarray:
    """Probabilities in the configured mode.

    ``mode="once"``: one model fitted on rows ``< train_end``, filtered over all rows.
    ``mode="walk_forward"``: :func:`walk_forward_proba` with ``start=train_end`` and training rows filled by
    the first model (in-sample, like mode "once").
    """
    cfg = config if config is not None else RegimeConfig()
    if cfg.mode == "once":
        return RegimeHMM(cfg).fit(X, train_end=train_end).filter_proba(X)
    X = _as_2d(X)
    return walk_forward_proba(X, cfg, start=X.shape[0] if train_end is None else train_end,
                              fill_before_start=True)


def _as_2d(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ConfigError(f"X must be 2-D (rows x features), got shape {X.shape}")
    return X
