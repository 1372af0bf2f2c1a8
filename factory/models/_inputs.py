"""Checks and conversions of model inputs, shared by every model so that all reject bad input the same way.

Labels are the triple-barrier classes ``-1`` (down), ``0`` (flat) and ``1`` (up). Internally models see the
class *index* ``label + 1`` (0, 1, 2), which is also the column order of ``predict_proba``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from factory.models.errors import ModelInputError

CLASSES = np.array([-1, 0, 1], dtype=np.int64)
CLASS_NAMES = ("down", "flat", "up")
N_CLASSES = 3


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))[0])


def check_features(
    X: Any,
    *,
    allow_nan: bool,
    n_features: int | None = None,
    feature_names: list[str] | None = None,
    what: str = "X",
) -> tuple[np.ndarray, list[str] | None]:
    """Return ``X`` as a C-contiguous float64 matrix and its column names (``None`` for arrays).

    When ``n_features``/``feature_names`` come from a fitted model, a different width or a DataFrame with
    other columns (or another order) is an error: silently reordering would feed features to the wrong trees.
    """
    names: list[str] | None = None
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        # one check per distinct dtype (a served request has ~200 float64 columns and one dtype)
        numeric = {dt: pd.api.types.is_numeric_dtype(dt) for dt in set(X.dtypes)}
        non_numeric = [str(c) for c, dt in X.dtypes.items() if not numeric[dt]]
        if non_numeric:
            raise ModelInputError(f"{what} has non-numeric columns: {', '.join(non_numeric[:5])}")
        arr = X.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            raise ModelInputError(f"{what} must be numeric, got {type(X).__name__}") from None
    if arr.ndim != 2:
        raise ModelInputError(f"{what} must be 2-D (samples x features), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ModelInputError(f"{what} is empty (shape {arr.shape})")
    if n_features is not None and arr.shape[1] != n_features:
        raise ModelInputError(f"{what} has {arr.shape[1]} features but the model was fitted on {n_features}")
    if names is not None and feature_names is not None and names != list(feature_names):
        missing = [c for c in feature_names if c not in names][:3]
        extra = [c for c in names if c not in feature_names][:3]
        detail = f"missing {missing}, unexpected {extra}" if missing or extra else "same columns in another order"
        raise ModelInputError(f"{what} columns differ from the fitted feature names ({detail})")
    nan = np.isnan(arr)
    if np.isinf(arr).any():
        raise ModelInputError(f"{what} holds infinite values (first at row {_first(np.isinf(arr))})")
    if not allow_nan and nan.any():
        rows = int(nan.any(axis=1).sum())
        raise ModelInputError(
            f"{what} holds NaN in {rows} row(s) (first at row {_first(nan)}) and this model cannot take missing "
            "values: drop or impute those rows first"
        )
    return np.ascontiguousarray(arr), names


def check_model_input(
    X: Any,
    kind: str,
    length: int,
    *,
    allow_nan: bool,
    n_features: int | None = None,
    feature_names: list[str] | None = None,
    what: str = "X",
):
    """(view, channel names) of window or price-context input: the rank, the channel count, the window length
    and the finiteness of every value a sample reads, with an error naming what is wrong.

    ``window``: a :class:`~factory.models.views.WindowView` or a 3-D ``(n, L, F)`` array; ``price_window``: a
    :class:`~factory.models.views.PriceContextView` or a 2-D ``(n, C)`` array of relative log prices.
    """
    from factory.models.views import ArrayContexts, ArrayWindows, PriceContextView, WindowView

    if kind == "window":
        if isinstance(X, pd.DataFrame):
            raise ModelInputError(f"{what} must be windows (samples x window x channels), got a 2-D DataFrame: "
                                  "this model reads windows of rows, see factory.models.views.model_input")
        view = X if isinstance(X, WindowView) else ArrayWindows(_numeric_array(X, what, 3))
        names = view.feature_names
        n, L, F = view.shape
        if n == 0:
            raise ModelInputError(f"{what} holds no windows")
        if L != length:
            short = "too short" if L < length else "too long"
            raise ModelInputError(f"{what} windows are {L} bars, {short} for this model, which reads {length}")
        if n_features is not None and F != n_features:
            raise ModelInputError(f"{what} has {F} channels but the model was fitted on {n_features}")
        if names is not None and feature_names is not None and names != list(feature_names):
            raise ModelInputError(f"{what} channel names differ from the fitted feature names")
        lo, hi = view.span()
        _check_finite(view.matrix[lo: hi + 1] if not isinstance(view, ArrayWindows) else view.array,
                      allow_nan, what)
        return view, names
    if kind == "price_window":
        view = X if isinstance(X, PriceContextView) else ArrayContexts(_numeric_array(X, what, 2))
        n, C = view.shape
        if n == 0:
            raise ModelInputError(f"{what} holds no price contexts")
        if C != length:
            short = "too short" if C < length else "too long"
            raise ModelInputError(f"{what} price contexts are {C} closes, {short} for this model, which reads {length}")
        if isinstance(view, ArrayContexts):
            _check_finite(view.array, False, what)
        return view, None
    raise ModelInputError(f"unknown input kind {kind!r}")


def _numeric_array(X: Any, what: str, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelInputError(f"{what} must be numeric, got {type(X).__name__}") from None
    if arr.ndim != ndim:
        shape = "samples x window x channels" if ndim == 3 else "samples x closes"
        raise ModelInputError(f"{what} must be {ndim}-D ({shape}), got shape {arr.shape}")
    return arr


def _check_finite(values: np.ndarray, allow_nan: bool, what: str) -> None:
    if np.isinf(values).any():
        raise ModelInputError(f"{what} holds infinite values")
    if not allow_nan and np.isnan(values).any():
        raise ModelInputError(f"{what} holds NaN and this model cannot take missing values")


def check_labels(y: Any, n: int, what: str = "y") -> np.ndarray:
    """Return the class index (``label + 1``, int64) of labels in {-1, 0, 1}; anything else is an error."""
    arr = np.asarray(y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ModelInputError(f"{what} must be 1-D, got shape {arr.shape}")
    if len(arr) != n:
        raise ModelInputError(f"{what} has {len(arr)} labels but X has {n} rows")
    if arr.dtype.kind not in "iuf":
        raise ModelInputError(f"{what} must hold the integers -1, 0, 1, got dtype {arr.dtype}")
    as_float = arr.astype(np.float64)
    bad = ~np.isin(as_float, CLASSES.astype(np.float64))
    if bad.any():
        k = int(np.argmax(bad))
        raise ModelInputError(
            f"{what} must hold only -1 (down), 0 (flat) and 1 (up); found {arr[k]!r} at row {k} "
            f"({int(bad.sum())} bad label(s))"
        )
    return as_float.astype(np.int64) + 1


def check_weights(w: Any, n: int, what: str = "sample_weight") -> np.ndarray | None:
    """Return non-negative finite float64 weights with a positive sum, or ``None``."""
    if w is None:
        return None
    arr = np.asarray(w, dtype=np.float64)
    if arr.shape != (n,):
        raise ModelInputError(f"{what} must have shape ({n},), got {arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ModelInputError(f"{what} must be finite and >= 0")
    if arr.sum() <= 0:
        raise ModelInputError(f"{what} sums to zero")
    return arr


def balance_factors(y_idx: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Per-class multipliers giving every class present the same total (sample-weighted) weight.

    Computed on the *weighted* class totals, so the balance holds whatever the sample weights were. An
    absent class gets factor 0 (it has no samples to weight anyway).
    """
    totals = np.bincount(y_idx, weights=None if w is None else w, minlength=N_CLASSES).astype(np.float64)
    present = totals > 0
    factor = np.zeros(N_CLASSES)
    factor[present] = totals.sum() / (present.sum() * totals[present])
    return factor


def combined_weights(y_idx: np.ndarray, w: np.ndarray | None, factors: np.ndarray | None) -> np.ndarray | None:
    """Sample weights times class ``factors`` (when given), rescaled to mean 1; ``None`` when all would be 1.

    Mean 1 keeps settings such as ``min_child_weight`` in units of "samples".
    """
    if factors is None:
        return None if w is None else w / w.mean()
    out = (np.ones(len(y_idx)) if w is None else w) * factors[y_idx]
    if out.sum() <= 0:
        return None
    return out / out.mean()


def finalise_proba(p: Any, n: int, who: str) -> np.ndarray:
    """(n, 3) float64 probabilities that are finite, clipped to [0, 1] and sum to exactly 1 per row."""
    arr = np.asarray(p, dtype=np.float64)
    if arr.shape != (n, N_CLASSES):
        raise ModelInputError(f"{who} produced probabilities of shape {arr.shape}, expected ({n}, {N_CLASSES})")
    if not np.isfinite(arr).all():
        raise ModelInputError(f"{who} produced non-finite probabilities")
    arr = np.clip(arr, 0.0, 1.0)
    total = arr.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise ModelInputError(f"{who} produced an all-zero probability row")
    return arr / total
