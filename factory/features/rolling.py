"""Causal rolling-window and recursive primitives (numba kernels).

Every kernel walks the bars once, oldest first, so the value at bar t is built from bars <= t only; no value
depends on the array length or on later elements. Windows count bars, not clock time. Memory is bounded too:
the value at t is a function of the last ``w`` inputs only (recursive smoothers included, see
:func:`ewm_window`), so it is the same whether the series starts long before t or just ``w`` bars before it,
up to rounding (the running sums of different starts are rebuilt at different bars).

Conventions shared by the window functions:

* a window of ``w`` bars ending at t is ``x[t-w+1 .. t]``; the output is NaN until the window is full and
  while a non-finite input lies inside it (so it recovers as soon as that value leaves the window). The
  wrappers handle the NaN cases (leading warm-up NaN of derived series is the common one), so the kernels
  run branch-light on finite data;
* running sums are taken on ``x - anchor`` where the anchor is a recent input value, and are rebuilt from
  scratch every ``max(4 w, 64)`` bars (the anchor too). Centring removes the cancellation of
  ``sum(x^2) - sum(x)^2 / w`` on price-level inputs and the rebuild stops rounding drift from accumulating
  over millions of bars;
* a variance within rounding of zero relative to the window's second moment is set to exactly 0, and a sum
  over a window of exact zeros is exactly 0 (a count of the window's non-zero inputs tells), so flat windows
  (common in quiet overnight futures bars) give exact zeros, not noise, whatever happened before the window:
  ratios such as RSI fall on their neutral value instead of dividing rounding residue by rounding residue;
* outputs and large scratch arrays are allocated by NumPy, not inside the kernels: NumPy asks the kernel
  for transparent huge pages, which makes first-touch page faults on fresh memory several times cheaper.

pandas' rolling and ewm objects compute the same statistics stably, but at 5-20 ms per statistic and
million bars; these fused kernels are several times faster, which the feature set's time budget needs.
Where a kernel reproduces a pandas or TA-Lib definition the tests compare them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# A variance below this fraction of the window's mean squared (centred) value is rounding noise.
_REL_ZERO = 1e-12
# Running sums are recomputed from scratch every max(4 w, _REBUILD) bars.
_REBUILD = 64


# --- NaN handling shared by the window functions ----------------------------------------------------------


@njit(cache=True, nogil=True, fastmath={"reassoc", "nsz"})
def _all_finite(x: np.ndarray) -> bool:
    # v * 0 is 0 for finite v and NaN otherwise; summing lets the loop vectorise (no early exit)
    acc = 0.0
    for i in range(x.shape[0]):
        acc += x[i] * 0.0
    return acc == 0.0


@njit(cache=True, nogil=True)
def _first_finite(x: np.ndarray) -> int:
    s = 0
    while s < x.shape[0] and not np.isfinite(x[s]):
        s += 1
    return s


def _start(inputs: tuple, n: int) -> int:
    """First bar where every input is finite (n if none)."""
    s = max([_first_finite(a) for a in inputs])
    while s < n and not all([np.isfinite(a[s]) for a in inputs]):
        s += 1
    return s


def _windowed(kernel, w: int, inputs: tuple, n_out: int, *args):
    """Run ``kernel(*inputs, w, *args, *outs)`` on finite data and apply the NaN conventions.

    The kernel starts at the first bar s where every input is finite, whatever follows, so its running sums
    (and their rebuild points) never depend on later bars. Non-finite values after s are replaced by the
    previous good value (a stand-in of the right magnitude keeps the running sums accurate) and every
    window containing one is blanked afterwards (a rolling count of bad values from a cumulative sum).
    This wrapper runs about a hundred times per feature set, so the common case (finite inputs from the first
    bar on) takes the shortest path: a served request of ~1,400 bars spends as long here as in the kernels.
    """
    n = inputs[0].shape[0]
    outs = [np.empty(n) for _ in range(n_out)]
    s = _first_finite(inputs[0]) if len(inputs) == 1 else _start(inputs, n)
    head = min(n, s + w - 1)
    if head:
        for o in outs:
            o[:head] = np.nan
    if n - s < w:
        return tuple(outs)
    if s:
        tail = tuple([a[s:] for a in inputs])
        tail_out = [o[s:] for o in outs]
    else:
        tail, tail_out = inputs, outs
    if all([_all_finite(a) for a in tail]):
        kernel(*tail, w, *args, *tail_out)
        return tuple(outs)
    good = np.ones(n - s, dtype=bool)
    for a in tail:
        good &= np.isfinite(a)
    src = np.where(good, np.arange(n - s), 0)  # good[0] is True: src is the last good bar so far
    np.maximum.accumulate(src, out=src)
    kernel(*(np.ascontiguousarray(a[src]) for a in tail), w, *args, *tail_out)
    bad = np.cumsum(~good)
    in_window = bad.copy()
    in_window[w:] -= bad[:-w]
    for o in tail_out:
        o[in_window > 0] = np.nan
    return tuple(outs)


# --- window kernels (finite inputs, n >= w) ---------------------------------------------------------------


@njit(cache=True, nogil=True)
def _sum_k(x, w, scale, out):
    n = x.shape[0]
    period = max(4 * w, _REBUILD)
    s = 0.0
    nz = 0  # non-zero inputs in the window: a window of zeros sums to exactly 0
    for i in range(w):
        s += x[i]
        nz += np.int64(x[i] != 0.0)
    out[w - 1] = s * scale if nz else 0.0
    k = 0
    for i in range(w, n):
        k += 1
        nz += np.int64(x[i] != 0.0) - np.int64(x[i - w] != 0.0)  # flags, not branches
        if k == period:
            k = 0
            s = 0.0
            for j in range(i - w + 1, i + 1):
                s += x[j]
        else:
            s += x[i] - x[i - w]
        # the output, not the running sum, is zeroed: a select on the sum would lengthen the loop's critical path
        out[i] = s * scale if nz else 0.0


@njit(cache=True, nogil=True)
def _mean_std_k(x, w, ddof, want_mean, mean, std):
    n = x.shape[0]
    period = max(4 * w, _REBUILD)
    inv_w = 1.0 / w
    inv_dof = 1.0 / (w - ddof) if w > ddof else np.nan
    a = 0.0
    s1 = 0.0
    s2 = 0.0
    k = period - 1  # rebuild (and anchor) on the first full window
    for i in range(w - 1, n):
        k += 1
        if k >= period:
            k = 0
            a = x[i]
            s1 = 0.0
            s2 = 0.0
            for j in range(i - w + 1, i + 1):
                d = x[j] - a
                s1 += d
                s2 += d * d
        else:
            d = x[i] - a
            e = x[i - w] - a
            s1 += d - e
            s2 += d * d - e * e
        m = s1 * inv_w
        if want_mean:
            mean[i] = a + m
        ss = s2 - s1 * m
        if ss <= _REL_ZERO * s2:
            ss = 0.0
        std[i] = np.sqrt(ss * inv_dof)


@njit(cache=True, nogil=True)
def _cov_corr_k(x, y, w, cov, cor):
    n = x.shape[0]
    period = max(4 * w, _REBUILD)
    inv_w = 1.0 / w
    ax = 0.0
    ay = 0.0
    sx = 0.0
    sy = 0.0
    sxx = 0.0
    syy = 0.0
    sxy = 0.0
    k = period - 1
    for i in range(w - 1, n):
        k += 1
        if k >= period:
            k = 0
            ax = x[i]
            ay = y[i]
            sx = 0.0
            sy = 0.0
            sxx = 0.0
            syy = 0.0
            sxy = 0.0
            for j in range(i - w + 1, i + 1):
                dx = x[j] - ax
                dy = y[j] - ay
                sx += dx
                sy += dy
                sxx += dx * dx
                syy += dy * dy
                sxy += dx * dy
        else:
            dx = x[i] - ax
            dy = y[i] - ay
            ex = x[i - w] - ax
            ey = y[i - w] - ay
            sx += dx - ex
            sy += dy - ey
            sxx += dx * dx - ex * ex
            syy += dy * dy - ey * ey
            sxy += dx * dy - ex * ey
        cxy = sxy - sx * sy * inv_w
        cxx = sxx - sx * sx * inv_w
        cyy = syy - sy * sy * inv_w
        cov[i] = cxy / (w - 1)
        if cxx <= _REL_ZERO * sxx or cyy <= _REL_ZERO * syy:
            cor[i] = 0.0
        else:
            r = cxy / np.sqrt(cxx * cyy)
            cor[i] = min(1.0, max(-1.0, r))


@njit(cache=True, nogil=True)
def _linreg_k(y, w, want_r2, slope, r2):
    n = y.shape[0]
    period = max(4 * w, _REBUILD)
    sj = w * (w - 1) / 2.0
    inv_sjj = 12.0 / (w * (w * w - 1.0))
    inv_w = 1.0 / w
    a = 0.0
    s = 0.0
    sjy = 0.0
    syy = 0.0
    k = period - 1
    for i in range(w - 1, n):
        k += 1
        if k >= period:
            k = 0
            a = y[i]
            s = 0.0
            sjy = 0.0
            syy = 0.0
            lo = i - w + 1
            for j in range(lo, i + 1):
                d = y[j] - a
                s += d
                sjy += (j - lo) * d
                syy += d * d
        else:
            dold = y[i - w] - a
            dnew = y[i] - a
            sjy += (w - 1) * dnew - (s - dold)
            s += dnew - dold
            syy += dnew * dnew - dold * dold
        cjy = sjy - sj * s * inv_w
        slope[i] = cjy * inv_sjj
        if want_r2:
            cyy = syy - s * s * inv_w
            if cyy <= _REL_ZERO * syy:
                r2[i] = 0.0
            else:
                r2[i] = min(1.0, max(0.0, cjy * cjy * inv_sjj / cyy))


@njit(cache=True, nogil=True)
def _extreme_k(x, w, sign, out):
    # van Herk / Gil-Werman: cut the bars into blocks of w. The window ending at t (offset k in its
    # block) is the tail of the previous block from offset k + 1 plus the head of the current block up to
    # t, so its max is max(suffix max of the previous block from k + 1, running max of the current block).
    # The previous block's suffix maxima are computed once, when that block completes, into a w-slot buffer.
    # Only bars <= t are used; no branch depends on the data (a monotonic deque mispredicts most bars).
    # ``sign`` = -1 turns max into min.
    n = x.shape[0]
    suf = np.empty(w)
    m = 0.0
    k = 0
    for t in range(n):
        v = sign * x[t]
        m = v if k == 0 else max(m, v)
        if k == w - 1:  # the window is exactly the block that completes here
            out[t] = sign * m
            a = v
            suf[w - 1] = a
            for j in range(w - 2, -1, -1):
                a = max(a, sign * x[t - w + 1 + j])
                suf[j] = a
            k = 0
        else:
            if t >= w:
                out[t] = sign * max(suf[k + 1], m)
            k += 1


@njit(cache=True, nogil=True)
def _willr_fused_k(h, lo, c, w, out):
    # Williams %R with the window's highest high and lowest low found as in _extreme_k, no HH / LL arrays.
    n = c.shape[0]
    suf_h = np.empty(w)
    suf_l = np.empty(w)
    mh = 0.0
    ml = 0.0
    k = 0
    for t in range(n):
        mh = h[t] if k == 0 else max(mh, h[t])
        ml = lo[t] if k == 0 else min(ml, lo[t])
        if k == w - 1:
            hh = mh
            ll = ml
            a = h[t]
            b = lo[t]
            suf_h[w - 1] = a
            suf_l[w - 1] = b
            for j in range(w - 2, -1, -1):
                a = max(a, h[t - w + 1 + j])
                b = min(b, lo[t - w + 1 + j])
                suf_h[j] = a
                suf_l[j] = b
            k = 0
        else:
            hh = max(suf_h[k + 1], mh)
            ll = min(suf_l[k + 1], ml)
            k += 1
            if t < w:
                continue
        rng = hh - ll
        out[t] = -100.0 * (hh - c[t]) / rng if rng != 0 else -50.0


def williams_r_fused(high: np.ndarray, low: np.ndarray, close: np.ndarray, w: int) -> np.ndarray:
    """Williams %R = -100 * (HH_w - c) / (HH_w - LL_w) (-50 without range) in one fused kernel."""
    return _windowed(_willr_fused_k, w, (_f64(high), _f64(low), _f64(close)), 1)[0]


# --- public window functions ------------------------------------------------------------------------------


def _f64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def rolling_sum(x: np.ndarray, w: int) -> np.ndarray:
    """sum(x[t-w+1 .. t])."""
    return _windowed(_sum_k, w, (_f64(x),), 1, 1.0)[0]


def rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Simple moving average over ``w`` bars (TA-Lib SMA)."""
    return _windowed(_sum_k, w, (_f64(x),), 1, 1.0 / w)[0]


def rolling_mean_std(x: np.ndarray, w: int, ddof: int = 0):
    """(mean, std) over ``w`` bars; std = sqrt(sum((x - mean)^2) / (w - ddof)).

    Anchored sums: with anchor a, s1 = sum(x - a), s2 = sum((x - a)^2), mean = a + s1 / w and
    sum((x - mean)^2) = s2 - s1^2 / w, exact in real arithmetic for any a and accurate in floating point
    when a is near the window's values (the anchor is the newest value at each rebuild).
    """
    mean, std = _windowed(_mean_std_k, w, (_f64(x),), 2, ddof, True)
    return mean, std


def rolling_std(x: np.ndarray, w: int, ddof: int = 0) -> np.ndarray:
    """Standard deviation over ``w`` bars (see :func:`rolling_mean_std`)."""
    x = _f64(x)
    mean_dummy = np.empty(0)

    def kernel(a, w_, ddof_, std):
        _mean_std_k(a, w_, ddof_, False, mean_dummy, std)

    return _windowed(kernel, w, (x,), 1, ddof)[0]


def rolling_cov_corr(x: np.ndarray, y: np.ndarray, w: int):
    """(sample covariance, Pearson correlation) of x and y over ``w`` bars (w >= 2).

    The correlation is 0 when either series is flat in the window (undefined otherwise).
    """
    return _windowed(_cov_corr_k, w, (_f64(x), _f64(y)), 2)


def rolling_linreg(y: np.ndarray, w: int, r2: bool = True):
    """(slope, R^2) of the least-squares line through (j, y[t-w+1+j]), j = 0..w-1 (TA-Lib LINEARREG_SLOPE).

    With Sy = sum y_j and Sjy = sum j*y_j: slope = (Sjy - Sj*Sy/w) / Sjj_c, Sj = w(w-1)/2,
    Sjj_c = w(w^2-1)/12; R^2 = (Sjy - Sj*Sy/w)^2 / (Sjj_c * (Syy - Sy^2/w)), 0 on a flat window. Sliding one
    bar lowers every index by one: Sjy' = Sjy - (Sy - y_old) + (w-1)*y_new. With ``r2=False`` the second
    element is None.
    """
    y = _f64(y)
    if r2:
        slope, rsq = _windowed(_linreg_k, w, (y,), 2, True)
        return slope, rsq
    dummy = np.empty(0)

    def kernel(a, w_, slope):
        _linreg_k(a, w_, False, slope, dummy)

    return _windowed(kernel, w, (y,), 1)[0], None


@njit(cache=True, nogil=True)
def _wmean_k(x, v, w, mean, wsum):
    # Anchored like _mean_std_k: the weighted sum runs on x - a, so price-level inputs keep the precision of
    # their moves. A window without weight is reported as wsum = 0 exactly (counted, not summed).
    n = x.shape[0]
    period = max(4 * w, _REBUILD)
    a = 0.0
    sxv = 0.0
    sv = 0.0
    nz = 0
    k = period - 1
    for i in range(w - 1, n):
        k += 1
        if k >= period:
            k = 0
            a = x[i]
            sxv = 0.0
            sv = 0.0
            nz = 0
            for j in range(i - w + 1, i + 1):
                sxv += (x[j] - a) * v[j]
                sv += v[j]
                if v[j] != 0.0:
                    nz += 1
        else:
            sxv += (x[i] - a) * v[i] - (x[i - w] - a) * v[i - w]
            sv += v[i] - v[i - w]
            if v[i] != 0.0:
                nz += 1
            if v[i - w] != 0.0:
                nz -= 1
        if nz == 0:
            mean[i] = np.nan
            wsum[i] = 0.0
        else:
            mean[i] = a + sxv / sv
            wsum[i] = sv


def rolling_weighted_mean(x: np.ndarray, weights: np.ndarray, w: int):
    """(sum x v / sum v, sum v) over ``w`` bars, v = ``weights`` >= 0; the mean is NaN where sum v = 0."""
    return _windowed(_wmean_k, w, (_f64(x), _f64(weights)), 2)


def _extreme(x: np.ndarray, w: int, sign: float) -> np.ndarray:
    return _windowed(_extreme_k, w, (_f64(x),), 1, sign)[0]


def rolling_max(x: np.ndarray, w: int) -> np.ndarray:
    """max(x[t-w+1 .. t])."""
    return _extreme(x, w, 1.0)


def rolling_min(x: np.ndarray, w: int) -> np.ndarray:
    """min(x[t-w+1 .. t])."""
    return _extreme(x, w, -1.0)


# --- recursions with bounded memory ---------------------------------------------------------------------


@njit(cache=True, nogil=True, fastmath={"contract"})  # fused multiply-adds: see indicators._FMA
def _ewm_k(x, w, alpha, out):
    # y_t = alpha / (1 - beta^w) * sum_{j<w} beta^j x_{t-j}, beta = 1 - alpha. One step of the recursion
    # s_t = beta s_{t-1} + x_t - beta^w x_{t-w} drops the input leaving the window, so the state never
    # remembers more than w bars. The sums run on x - a (a = the newest input at each rebuild, every
    # max(4 w, 64) bars), which keeps the rounding of price-level inputs at the size of their moves, not of
    # the price; rounding errors decay like beta^k, so they never accumulate. A window of zeros gives 0.
    n = x.shape[0]
    beta = 1.0 - alpha
    bw = beta**w
    norm = alpha / (1.0 - bw)
    period = max(4 * w, _REBUILD)
    k = period - 1  # rebuild (and anchor) on the first full window
    a = 0.0
    s = 0.0
    nz = 0
    for i in range(w - 1, n):
        k += 1
        if k >= period:
            k = 0
            a = x[i]
            s = 0.0
            nz = 0
            for j in range(i - w + 1, i + 1):
                s = beta * s + (x[j] - a)
                if x[j] != 0.0:
                    nz += 1
        else:
            # one multiply-add on the recursion's critical path; the leaving term is folded in beforehand
            s = beta * s + ((x[i] - a) - bw * (x[i - w] - a))
            if x[i] != 0.0:
                nz += 1
            if x[i - w] != 0.0:
                nz -= 1
        out[i] = a + s * norm if nz else 0.0


def ewm_window(x: np.ndarray, alpha: float, w: int) -> np.ndarray:
    """Exponentially weighted mean over the last ``w`` bars, weights renormalised to sum to 1.

    y_t = sum_{j<w} alpha (1 - alpha)^j x_{t-j} / (1 - (1 - alpha)^w): the usual EMA recursion
    ``y_t = (1 - alpha) y_{t-1} + alpha x_t`` with its memory cut at ``w`` bars, so that y_t is a function of
    x[t-w+1 .. t] only (NaN until the window is full or while it holds a non-finite input). With
    ``w = ceil(m / alpha)`` the weight left out, (1 - alpha)^w, is about e^-m; see :func:`ema_span_window`
    and :func:`wilder_window` in :mod:`factory.features.indicators`. alpha = 2 / (span + 1) for the usual
    EMA, 1 / n for Wilder's smoothing; alpha = 1 is the input itself.
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    return _windowed(_ewm_k, int(w), (_f64(x),), 1, float(alpha))[0]


# --- small NumPy helpers ----------------------------------------------------------------------------------


def lag(x: np.ndarray, k: int) -> np.ndarray:
    """x shifted k bars into the past: out[t] = x[t-k], NaN for t < k."""
    out = np.empty(x.shape[0], dtype=np.float64)
    out[:k] = np.nan
    out[k:] = x[: x.shape[0] - k]
    return out


def diff(x: np.ndarray, k: int = 1) -> np.ndarray:
    """x[t] - x[t-k], NaN for t < k."""
    out = np.empty(x.shape[0], dtype=np.float64)
    out[:k] = np.nan
    np.subtract(x[k:], x[:-k], out=out[k:])
    return out


def safe_div(a: np.ndarray, b: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """a / b where b != 0; ``fill`` where b == 0 and a is finite (a degenerate, not a missing, value).

    NaN inputs stay NaN, so warm-up rows are never filled in. Division warnings are the caller's to silence
    (:func:`factory.features.compute_features` does, once for the whole feature set).
    """
    out = np.divide(a, b)
    zero = b == 0
    if zero.any():
        out[zero & np.isfinite(a)] = fill
    return out
