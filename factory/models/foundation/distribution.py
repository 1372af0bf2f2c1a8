"""From a forecast's quantiles of the horizon log return to class probabilities, an expected return and quantiles.

Method (quantile-grid interpolation). A forecaster gives, per sample, values ``v_1 <= ... <= v_Q`` of the
horizon log return at levels ``0 < q_1 < ... < q_Q < 1`` (values are sorted first, which repairs any crossing
quantiles). The distribution function ``F`` is taken piecewise linear through the knots ``(v_k, q_k)``, with
two end knots that continue the outermost segments' slopes down to 0 and up to 1::

    v_0     = v_1 - (v_2 - v_1) * q_1 / (q_2 - q_1)                      (F = 0)
    v_{Q+1} = v_Q + (v_Q - v_{Q-1}) * (1 - q_Q) / (q_Q - q_{Q-1})        (F = 1)

so the density is uniform between neighbouring knots. With the label barriers at t as log-return widths
``up_t`` and ``down_t`` (:mod:`factory.labels.barriers`, the labels' own ATR, ``k_up``/``k_down`` and costs):

    prob_up   = 1 - F(up_t)         the mass beyond the upper barrier at the horizon
    prob_down = F(-down_t)          the mass beyond the lower barrier
    prob_flat = 1 - prob_up - prob_down

This prices the barriers at the vertical barrier (the return at t + horizon), not the first touch along the path
that the labels use; a calibrator fitted on the validation split (the factory fits one for every model) takes up
the difference. ``expected_return`` is the mean of that distribution (the sum over segments of their mass times
their midpoint) and a quantile at level ``a`` is ``F^-1(a)``, linear between the knots.
"""

from __future__ import annotations

import numpy as np


def knots(levels, values) -> tuple[np.ndarray, np.ndarray]:
    """``(x, p)``: knot positions ``(n, Q + 2)`` and their levels ``(Q + 2,)`` (see the module docstring)."""
    q = np.asarray(levels, dtype=np.float64)
    v = np.sort(np.asarray(values, dtype=np.float64), axis=1)
    if q.ndim != 1 or len(q) < 2 or v.ndim != 2 or v.shape[1] != len(q):
        raise ValueError(f"need Q >= 2 increasing levels and (n, Q) values, got {q.shape} and {v.shape}")
    if not (np.all(np.diff(q) > 0) and q[0] > 0 and q[-1] < 1):
        raise ValueError(f"quantile levels must increase strictly inside (0, 1), got {q.tolist()}")
    lo = v[:, :1] - (v[:, 1:2] - v[:, :1]) * q[0] / (q[1] - q[0])
    hi = v[:, -1:] + (v[:, -1:] - v[:, -2:-1]) * (1 - q[-1]) / (q[-1] - q[-2])
    return np.concatenate([lo, v, hi], axis=1), np.concatenate([[0.0], q, [1.0]])


def cdf(levels, values, x) -> np.ndarray:
    """``F(x)`` per sample: ``values`` ``(n, Q)`` at ``levels`` ``(Q,)``, ``x`` ``(n,)`` (``+-inf`` allowed)."""
    kx, kp = knots(levels, values)
    x = np.asarray(x, dtype=np.float64)
    j = (kx <= x[:, None]).sum(axis=1)  # knots at or below x: 0 .. K
    K = kx.shape[1]
    inside = (j > 0) & (j < K)
    out = np.where(j >= K, 1.0, 0.0)
    r = np.flatnonzero(inside)
    if r.size:
        jj = j[r]
        x0, x1 = kx[r, jj - 1], kx[r, jj]  # x1 > x >= x0
        out[r] = kp[jj - 1] + (kp[jj] - kp[jj - 1]) * (x[r] - x0) / (x1 - x0)
    return out


def barrier_probabilities(levels, values, up, down) -> np.ndarray:
    """``(n, 3)`` probabilities of (down, flat, up) beyond the barriers ``-down`` and ``+up`` (log returns)."""
    up = np.asarray(up, dtype=np.float64)
    down = np.asarray(down, dtype=np.float64)
    if np.isnan(up).any() or np.isnan(down).any():
        raise ValueError("barrier widths are NaN (ATR warm-up): these bars have no label barriers yet")
    p_up = 1.0 - cdf(levels, values, up)
    p_down = cdf(levels, values, -down)
    p_flat = np.clip(1.0 - p_up - p_down, 0.0, 1.0)
    return np.stack([p_down, p_flat, p_up], axis=1)


def expected_value(levels, values) -> np.ndarray:
    """The mean of the piecewise-uniform distribution, per sample."""
    kx, kp = knots(levels, values)
    mass = np.diff(kp)
    return ((kx[:, :-1] + kx[:, 1:]) / 2.0 * mass[None, :]).sum(axis=1)


def quantile(levels, values, at) -> np.ndarray:
    """``F^-1`` at levels ``at`` ``(m,)`` per sample: ``(n, m)``."""
    kx, kp = knots(levels, values)
    at = np.asarray(at, dtype=np.float64)
    return np.stack([np.interp(at, kp, row) for row in kx]) if len(kx) else np.empty((0, len(at)))
