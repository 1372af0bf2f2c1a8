"""The trading signal served next to the probabilities, and the cost it must clear.

Rule (``signal`` in {-1, 0, 1}), per bar:

* ``+1`` when ``prob_up`` is strictly the largest of the three probabilities AND the expected label-horizon log
  return exceeds the round-trip cost expressed as a log return at that bar's close;
* ``-1`` when ``prob_down`` is strictly the largest AND the expected return is below minus that cost;
* ``0`` otherwise (flat is the most probable class, a tie for the top, or the edge does not pay the costs).

The cost as a log return is ``round_trip_points / close`` (e.g. MES: $7.50 round trip = 1.5 points, at 5000
that is 3e-4), a first-order approximation of ``log(1 + cost / close)`` that is exact to 1e-7 at these sizes.
"""

from __future__ import annotations

import numpy as np


def cost_as_log_return(close: np.ndarray, round_trip_points: float) -> np.ndarray:
    """Round-trip cost in log-return units at each close."""
    return float(round_trip_points) / np.asarray(close, dtype=np.float64)


def signals(proba: np.ndarray, expected_return: np.ndarray, close: np.ndarray,
            round_trip_points: float) -> np.ndarray:
    """``(n,)`` int64 signals from ``(n, 3)`` probabilities (down, flat, up); see the module docstring."""
    p = np.asarray(proba, dtype=np.float64)
    er = np.asarray(expected_return, dtype=np.float64)
    cost = cost_as_log_return(close, round_trip_points)
    top = p.argmax(axis=1)
    # Strictly largest: the top probability beats the runner-up.
    strict = np.sort(p, axis=1)[:, -1] > np.sort(p, axis=1)[:, -2]
    out = np.zeros(len(p), dtype=np.int64)
    out[strict & (top == 2) & (er > cost)] = 1
    out[strict & (top == 0) & (er < -cost)] = -1
    return out
