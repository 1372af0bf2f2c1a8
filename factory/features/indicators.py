"""Causal, bounded-memory technical indicators shared by the feature set, the labels and the regimes.

Every function takes NumPy float64 arrays aligned on bars and returns arrays of the same length whose value at
bar t depends only on bars t - L .. t for a fixed lookback L (given per function); leading values without a
full lookback are NaN. A served request that holds exactly L + 1 bars therefore sees the same values as the
full history (up to rounding).

Recursive smoothers (EMA, Wilder's averages in RSI, ATR, ADX, MACD's EMAs) are TA-Lib's recursions with their
memory cut at ``W`` bars (:func:`factory.features.rolling.ewm_window`): y_t = sum_{j<W} a (1 - a)^j x_{t-j}
/ (1 - (1 - a)^W). With ``W = ceil(memory / a)`` the weight an unbounded recursion would put before the window
is (1 - a)^W ~ e^-memory (0.7 % for the default memory 5), so values stay within a fraction of a percent of
TA-Lib's unbounded, SMA-seeded ones, while no value remembers where the series started. Degenerate windows (no
range, no volume, no gains or losses) give the indicator's neutral value (RSI 50, %K 50, CCI 0, ...) rather
than NaN, so features stay finite on flat overnight stretches.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from factory.features.rolling import ewm_window, rolling_linreg, rolling_max, rolling_mean, rolling_mean_std
from factory.features.rolling import rolling_min, rolling_std, williams_r_fused

# Memory of the recursive smoothers in units of 1 / alpha: the weight left out is about e^-DEFAULT_MEMORY.
DEFAULT_MEMORY = 5.0
# The recursions may use fused multiply-adds: one rounding per step instead of two, and half the latency of
# the loop-carried dependency that bounds their speed (nothing is reordered).
_FMA = {"contract"}


def _f64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def wilder_window(n: int, memory: float = DEFAULT_MEMORY) -> int:
    """Bars kept by Wilder's smoothing of period n (alpha = 1/n): ``ceil(memory * n)``."""
    return max(1, math.ceil(memory * n - 1e-9))


def ema_span_window(n: int, memory: float = DEFAULT_MEMORY) -> int:
    """Bars kept by an EMA of span n (alpha = 2 / (n + 1)): ``ceil(memory * (n + 1) / 2)``."""
    return max(1, math.ceil(memory * (n + 1) / 2.0 - 1e-9))


def wilder(x: np.ndarray, n: int, memory: float = DEFAULT_MEMORY) -> np.ndarray:
    """Wilder's smoothing (alpha = 1/n) over the last :func:`wilder_window` bars."""
    return ewm_window(x, 1.0 / n, wilder_window(n, memory))


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """max(high - low, |high - prev close|, |low - prev close|); NaN on the first bar, which has no previous
    close (taking high - low there would make the value depend on where the series starts)."""
    h, lo, c = _f64(high), _f64(low), _f64(close)
    tr = np.empty_like(c)
    tr[:1] = np.nan
    prev = c[:-1]
    np.maximum(h[1:] - lo[1:], np.maximum(np.abs(h[1:] - prev), np.abs(lo[1:] - prev)), out=tr[1:])
    return tr


@njit(cache=True, nogil=True)
def _nonzero(x) -> int:
    return np.int64(x != 0.0)  # a flag, not a branch: zeros come and go at random


@njit(cache=True, nogil=True)
def _tr(h, lo, c, i):
    return max(h[i] - lo[i], max(abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])))


@njit(cache=True, nogil=True, fastmath=_FMA)
def _atr_k(h, lo, c, alpha, w, out):
    # One pass: each true range once, kept in a ring of the last w for the term that leaves the window; the
    # bounded Wilder recursion s_t = beta s_{t-1} + (tr_t - beta^w tr_{t-w}) and a count of the non-zero true
    # ranges in the window (a window without range is exactly 0).
    m = c.shape[0]
    beta = 1.0 - alpha
    bw = beta**w
    norm = alpha / (1.0 - bw)
    ring = np.zeros(w)
    k = 0
    s = 0.0
    nz = 0
    bad = 0.0  # stays 0 on finite bars (x * 0 is NaN for NaN and inf): the caller then trusts the result
    out[:1] = np.nan
    for i in range(1, m):
        tr = _tr(h, lo, c, i)
        bad += (h[i] + lo[i] + c[i]) * 0.0
        e = ring[k]  # the true range w bars back (0 before the window is full)
        ring[k] = tr
        k += 1
        if k == w:
            k = 0
        s = beta * s + (tr - bw * e)
        nz += _nonzero(tr) - _nonzero(e)
        if i < w:
            out[i] = np.nan
        else:
            out[i] = s * norm if nz else 0.0
    return bad == 0.0


def _first_bar_finite(*arrays) -> bool:
    """The kernels check every bar they read but the first, which only enters comparisons that hide a NaN."""
    return all(a.shape[0] == 0 or np.isfinite(a[0]) for a in arrays)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int = 14,
        memory: float = DEFAULT_MEMORY, *, width: int | None = None) -> np.ndarray:
    """Wilder's average true range (alpha = 1/window) over the last ``W = wilder_window(window, memory)`` (or
    ``width``) true ranges; lookback W bars (the oldest true range reads the close before it), NaN before."""
    w = wilder_window(window, memory) if width is None else int(width)
    h, lo, c = _f64(high), _f64(low), _f64(close)
    out = np.empty(c.shape[0])
    if _atr_k(h, lo, c, 1.0 / window, w, out) and _first_bar_finite(h, lo, c):
        return out
    # A non-finite bar: the general path blanks exactly the windows that hold it.
    return ewm_window(true_range(h, lo, c), 1.0 / window, w)


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average over n bars."""
    return rolling_mean(_f64(x), n)


def ema(x: np.ndarray, n: int, memory: float = DEFAULT_MEMORY) -> np.ndarray:
    """EMA with alpha = 2 / (n + 1) over the last ``W = ema_span_window(n, memory)`` bars; lookback W - 1."""
    return ewm_window(_f64(x), 2.0 / (n + 1.0), ema_span_window(n, memory))


def stddev(x: np.ndarray, n: int) -> np.ndarray:
    """Population standard deviation over n bars (TA-Lib STDDEV with nbdev=1)."""
    return rolling_std(_f64(x), n, 0)


@njit(cache=True, nogil=True)
def _roc_k(c, n, out):
    for i in range(min(n, c.shape[0])):
        out[i] = np.nan
    for i in range(n, c.shape[0]):
        out[i] = 100.0 * (c[i] / c[i - n] - 1.0)


def roc(close: np.ndarray, n: int) -> np.ndarray:
    """Rate of change in percent: 100 * (c_t / c_{t-n} - 1)."""
    c = _f64(close)
    out = np.empty(c.shape[0])
    _roc_k(c, int(n), out)
    return out


@njit(cache=True, nogil=True, fastmath=_FMA)
def _rsi_k(c, alpha, w, out):
    # Gains and losses of the change entering the window and of the one leaving it, two bounded Wilder sums
    # and their non-zero counts, in one pass. The normalisation cancels in the ratio.
    m = c.shape[0]
    beta = 1.0 - alpha
    bw = beta**w
    sg = 0.0
    sl = 0.0
    ng = 0
    nl = 0
    bad = 0.0
    out[:1] = np.nan
    for i in range(1, m):
        d = c[i] - c[i - 1]
        bad += d * 0.0
        e = c[i - w] - c[i - w - 1] if i > w else 0.0
        # max() rather than branches: gains and losses alternate at random, which no predictor follows
        g, q = max(d, 0.0), max(-d, 0.0)
        eg, eq = max(e, 0.0), max(-e, 0.0)
        sg = beta * sg + (g - bw * eg)
        sl = beta * sl + (q - bw * eq)
        ng += _nonzero(g) - _nonzero(eg)
        nl += _nonzero(q) - _nonzero(eq)
        if i < w:
            out[i] = np.nan
            continue
        g = sg if ng else 0.0
        q = sl if nl else 0.0
        tot = g + q
        out[i] = 100.0 * g / tot if tot > 0 else 50.0
    return bad == 0.0


def rsi(close: np.ndarray, n: int = 14, memory: float = DEFAULT_MEMORY, *, window: int | None = None) -> np.ndarray:
    """Wilder's RSI = 100 * AG / (AG + AL), AG / AL Wilder averages (alpha = 1/n) of the last
    ``W = wilder_window(n, memory)`` (or ``window``) gains / losses; 50 when the window has neither. Lookback W."""
    c = _f64(close)
    w = wilder_window(n, memory) if window is None else int(window)
    out = np.full(c.shape[0], np.nan)
    if c.shape[0] < 2 or _rsi_k(c, 1.0 / n, w, out):
        return out
    # A non-finite close: the general path blanks exactly the windows that hold it.
    d = np.empty_like(c)
    d[:1] = np.nan
    np.subtract(c[1:], c[:-1], out=d[1:])
    gain = ewm_window(np.maximum(d, 0.0), 1.0 / n, w)
    loss = ewm_window(np.maximum(-d, 0.0), 1.0 / n, w)
    tot = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 100.0 * gain / tot
    out[tot == 0] = 50.0
    return out


@njit(cache=True, nogil=True, fastmath=_FMA)
def _macd_k(c, af, wf, a_s, ws, ag, wg, line, sig, hist):
    # The two price EMAs run on c - anchor (the newest close at each rebuild, every 4 ws bars: a price-level
    # sum keeps the precision of the moves) and the signal EMA on the line, whose leaving term is read back
    # from the line already written. All three are the bounded recursion of rolling._ewm_k.
    m = c.shape[0]
    bf, bs, bg = 1.0 - af, 1.0 - a_s, 1.0 - ag
    bwf, bws, bwg = bf**wf, bs**ws, bg**wg
    nf, ns, ng = af / (1.0 - bwf), a_s / (1.0 - bws), ag / (1.0 - bwg)
    period = max(4 * ws, 64)
    k = period - 1
    a = 0.0
    sf = 0.0
    ss = 0.0
    sg = 0.0
    bad = 0.0
    first = ws - 1  # first bar with a line
    for i in range(m):
        line[i] = np.nan
        sig[i] = np.nan
        hist[i] = np.nan
        if i < ws - 1:
            continue
        k += 1
        if k >= period:
            k = 0
            a = c[i]
            sf = 0.0
            for j in range(i - wf + 1, i + 1):
                sf = bf * sf + (c[j] - a)
            ss = 0.0
            for j in range(i - ws + 1, i + 1):
                ss = bs * ss + (c[j] - a)
        else:
            sf = bf * sf + ((c[i] - a) - bwf * (c[i - wf] - a))
            ss = bs * ss + ((c[i] - a) - bws * (c[i - ws] - a))
        bad += c[i] * 0.0
        ln = sf * nf - ss * ns  # the anchor cancels in the difference
        line[i] = ln
        sg = bg * sg + (ln - (bwg * line[i - wg] if i - wg >= first else 0.0))
        if i >= first + wg - 1:
            sig[i] = sg * ng
            hist[i] = ln - sig[i]
    return bad == 0.0


def macd(close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9, memory: float = DEFAULT_MEMORY):
    """(line, signal, histogram): line = EMA_fast - EMA_slow, signal = EMA_signal(line), hist = line - signal.

    Bounded EMAs (:func:`ema`); the line's lookback is ``Ws - 1`` and the signal's ``Ws + Wg - 2`` with
    ``Ws, Wg = ema_span_window(slow / signal, memory)``.
    """
    c = _f64(close)
    wf, ws, wg = (ema_span_window(p, memory) for p in (fast, slow, signal))
    outs = tuple(np.empty(c.shape[0]) for _ in range(3))
    if wf <= ws and _macd_k(c, 2.0 / (fast + 1.0), wf, 2.0 / (slow + 1.0), ws, 2.0 / (signal + 1.0), wg, *outs) \
            and np.isfinite(c[: ws - 1]).all():
        return outs
    # A non-finite close: the general path blanks exactly the windows that hold it.
    line = ema(c, fast, memory) - ema(c, slow, memory)
    sig = ema(line, signal, memory)
    return line, sig, line - sig


@njit(cache=True, nogil=True)
def _ring_sum(buf, count):
    # Oldest first: the same additions in the same order whichever slot the ring started at, so the sum
    # does not depend on where the series began (not even in the last bit).
    m = buf.shape[0]
    s = 0.0
    for j in range(m):
        s += buf[(count + j) % m]
    return s


@njit(cache=True, nogil=True)
def _stoch_k(c, hh, ll, sk, sd, fast, k_out, d_out):
    # fast %K into a scratch array, then the two simple averages summed oldest first over their few bars:
    # the same additions in the same order wherever the series starts, and no ring-buffer arithmetic.
    n = c.shape[0]
    nf = 0  # consecutive defined fast values ending here
    nk = 0
    for i in range(n):
        k_out[i] = np.nan
        d_out[i] = np.nan
        if not (np.isfinite(hh[i]) and np.isfinite(ll[i])):
            nf = 0
            nk = 0
            continue
        rng = hh[i] - ll[i]
        fast[i] = 100.0 * (c[i] - ll[i]) / rng if rng != 0 else 50.0
        nf += 1
        if nf < sk:
            continue
        acc = 0.0
        for j in range(i - sk + 1, i + 1):
            acc += fast[j]
        k_out[i] = acc / sk
        nk += 1
        if nk >= sd:
            acc = 0.0
            for j in range(i - sd + 1, i + 1):
                acc += k_out[j]
            d_out[i] = acc / sd


def stochastic(high, low, close, n: int = 14, smooth_k: int = 3, smooth_d: int = 3, *, hh=None, ll=None):
    """Slow stochastic (TA-Lib STOCH with SMA smoothing): fast %K = 100 * (c - LL_n) / (HH_n - LL_n),
    %K = SMA_smooth_k(fast %K), %D = SMA_smooth_d(%K). Fast %K is 50 when HH = LL.

    ``hh`` / ``ll`` may pass precomputed n-bar highest high / lowest low.
    """
    c = _f64(close)
    hh = rolling_max(_f64(high), n) if hh is None else hh
    ll = rolling_min(_f64(low), n) if ll is None else ll
    k = np.empty(c.shape[0])
    d = np.empty(c.shape[0])
    _stoch_k(c, hh, ll, int(smooth_k), int(smooth_d), np.empty(c.shape[0]), k, d)
    return k, d


@njit(cache=True, nogil=True)
def _willr_k(c, hh, ll, out):
    for i in range(c.shape[0]):
        rng = hh[i] - ll[i]
        out[i] = -100.0 * (hh[i] - c[i]) / rng if rng != 0 else (-50.0 if rng == 0 else np.nan)


def williams_r(high, low, close, n: int = 14, *, hh=None, ll=None) -> np.ndarray:
    """Williams %R = -100 * (HH_n - c) / (HH_n - LL_n); -50 when HH = LL (``hh`` / ``ll`` as in stochastic)."""
    if hh is None or ll is None:
        return williams_r_fused(high, low, close, n)
    c = _f64(close)
    out = np.empty(c.shape[0])
    _willr_k(c, hh, ll, out)
    return out


@njit(cache=True, nogil=True, fastmath={"reassoc", "nsz"})
def _mean_abs_dev(tp, lo, hi, mu):
    # Reassociation lets the sum run in SIMD lanes; the order still depends only on the window's own values
    # (lanes by offset from its first bar), so the result is the same wherever the series starts.
    md = 0.0
    for j in range(lo, hi):
        md += abs(tp[j] - mu)
    return md


@njit(cache=True, nogil=True)
def _cci_k(h, lo, c, n, tp, out):
    # The mean absolute deviation needs the window's mean, so each bar scans its window once: O(n * w),
    # TA-Lib's cost. The mean is a running sum (rebuilt every 1024 bars against drift). A deviation within
    # rounding of zero relative to the price level is a flat window: exactly CCI 0, not residue over residue.
    m = c.shape[0]
    for i in range(m):
        tp[i] = (h[i] + lo[i] + c[i]) / 3.0
    s = 0.0
    for i in range(m):
        s += tp[i]
        if i >= n:
            s -= tp[i - n]
        if i < n - 1:
            out[i] = np.nan
            continue
        if i % 1024 == 0:
            s = 0.0
            for j in range(i - n + 1, i + 1):
                s += tp[j]
        mu = s / n
        md = _mean_abs_dev(tp, i - n + 1, i + 1, mu)
        if md <= 1e-12 * n * abs(mu):
            out[i] = 0.0
        else:
            out[i] = (tp[i] - mu) / (0.015 * md / n)


def cci(high, low, close, n: int = 20) -> np.ndarray:
    """Commodity channel index (tp - SMA_n(tp)) / (0.015 * mean |tp - SMA_n(tp)|), tp = (h + l + c) / 3;
    0 when the window has no deviation."""
    c = _f64(close)
    out = np.empty(c.shape[0])
    _cci_k(_f64(high), _f64(low), c, int(n), np.empty(c.shape[0]), out)
    return out


def directional_movement(high, low):
    """(DM+, DM-): DM+ = h_t - h_{t-1} if it exceeds l_{t-1} - l_t and is > 0, else 0 (DM- alike); NaN on bar 0."""
    h, lo = _f64(high), _f64(low)
    up = np.full(h.shape[0], np.nan)
    dn = np.full(h.shape[0], np.nan)
    u = h[1:] - h[:-1]
    d = lo[:-1] - lo[1:]
    bad = np.isnan(u) | np.isnan(d)
    up[1:] = np.where(bad, np.nan, np.where((u > d) & (u > 0), u, 0.0))
    dn[1:] = np.where(bad, np.nan, np.where((d > u) & (d > 0), d, 0.0))
    return up, dn


@njit(cache=True, nogil=True)
def _dm(h, lo, i):
    up = h[i] - h[i - 1]
    dn = lo[i - 1] - lo[i]
    return (up if (up > dn and up > 0) else 0.0), (dn if (dn > up and dn > 0) else 0.0)


@njit(cache=True, nogil=True, fastmath=_FMA)
def _adx_k(h, lo, c, alpha, w, adx_out, pdi, mdi):
    # Three bounded Wilder sums (DM+, DM-, TR; entering and leaving terms recomputed), the DIs and DX, then a
    # fourth bounded sum of DX whose leaving term is read back from a ring of the last w DX values. Counts of
    # non-zero terms make empty windows exact zeros.
    m = c.shape[0]
    beta = 1.0 - alpha
    bw = beta**w
    sp = 0.0
    sm = 0.0
    st = 0.0
    cp = 0
    cm = 0
    ct = 0
    sa = 0.0
    ca = 0
    bad = 0.0
    ring = np.zeros(w)
    for i in range(min(m, 1)):
        adx_out[i] = np.nan
        pdi[i] = np.nan
        mdi[i] = np.nan
    for i in range(1, m):
        p, q = _dm(h, lo, i)
        tr = _tr(h, lo, c, i)
        bad += (h[i] + lo[i] + c[i]) * 0.0
        if i > w:
            ep, eq = _dm(h, lo, i - w)
            et = _tr(h, lo, c, i - w)
        else:
            ep = eq = et = 0.0
        sp = beta * sp + (p - bw * ep)
        sm = beta * sm + (q - bw * eq)
        st = beta * st + (tr - bw * et)
        cp += _nonzero(p) - _nonzero(ep)
        cm += _nonzero(q) - _nonzero(eq)
        ct += _nonzero(tr) - _nonzero(et)
        adx_out[i] = np.nan
        if i < w:
            pdi[i] = np.nan
            mdi[i] = np.nan
            continue
        t = st if ct else 0.0
        a = 100.0 * (sp if cp else 0.0) / t if t > 0 else 0.0
        b = 100.0 * (sm if cm else 0.0) / t if t > 0 else 0.0
        pdi[i] = a
        mdi[i] = b
        dx = 100.0 * abs(a - b) / (a + b) if a + b > 0 else 0.0
        k = (i - w) % w  # DX values exist from bar w on; slot k holds the one w bars back
        e = ring[k] if i - w >= w else 0.0
        sa = beta * sa + (dx - bw * e)
        ca += _nonzero(dx) - (_nonzero(e) if i - w >= w else 0)
        ring[k] = dx
        if i >= 2 * w - 1:
            adx_out[i] = sa * alpha / (1.0 - bw) if ca else 0.0
    return bad == 0.0


def adx(high, low, close, n: int = 14, memory: float = DEFAULT_MEMORY):
    """(ADX, +DI, -DI), Wilder (1978): DI+- = 100 * W(DM+-) / W(TR), DX = 100 * |DI+ - DI-| / (DI+ + DI-),
    ADX = W(DX); W is Wilder's smoothing over ``Wn = wilder_window(n, memory)`` bars. DI 0 without range,
    DX 0 without movement. Lookback Wn for the DIs, 2 Wn - 1 for the ADX."""
    h, lo, c = _f64(high), _f64(low), _f64(close)
    w = wilder_window(n, memory)
    outs = tuple(np.empty(c.shape[0]) for _ in range(3))
    if _adx_k(h, lo, c, 1.0 / n, w, *outs) and _first_bar_finite(h, lo, c):
        return outs
    # A non-finite bar: the general path blanks exactly the windows that hold it.
    up, dn = directional_movement(h, lo)
    tr = wilder(true_range(h, lo, c), n, memory)
    with np.errstate(invalid="ignore", divide="ignore"):
        pdi = np.where(tr > 0, 100.0 * wilder(up, n, memory) / tr, 0.0)
        mdi = np.where(tr > 0, 100.0 * wilder(dn, n, memory) / tr, 0.0)
        tot = pdi + mdi
        dx = np.where(tot > 0, 100.0 * np.abs(pdi - mdi) / tot, 0.0)
    nan = np.isnan(tr)
    for a in (pdi, mdi, dx):
        a[nan] = np.nan
    return wilder(dx, n, memory), pdi, mdi


@njit(cache=True, nogil=True)
def _mfi_k(h, lo, c, v, n, out):
    # Positive / negative money flows and their n-bar sums in one pass (ring buffers of the flows, which are
    # summed afresh, oldest first, every n bars). Counts of the non-zero flows in the window make a window
    # without flow exactly 50, whatever rounding the running sums carry.
    m = c.shape[0]
    pos = np.zeros(n)
    neg = np.zeros(n)
    sp = 0.0
    sn = 0.0
    cp = 0
    cn = 0
    prev = (h[0] + lo[0] + c[0]) / 3.0 if m else 0.0
    out[: min(m, n)] = np.nan
    k = 0
    for i in range(1, m):
        tp = (h[i] + lo[i] + c[i]) / 3.0
        f = tp * v[i]
        p = f if tp > prev else 0.0
        q = f if tp < prev else 0.0
        prev = tp
        cp += _nonzero(p) - _nonzero(pos[k])
        cn += _nonzero(q) - _nonzero(neg[k])
        sp += p - pos[k]
        sn += q - neg[k]
        pos[k] = p
        neg[k] = q
        k += 1
        if k == n:
            k = 0
            sp = _ring_sum(pos, 0)
            sn = _ring_sum(neg, 0)
        if i >= n:
            a = sp if cp else 0.0
            b = sn if cn else 0.0
            tot = a + b
            out[i] = 100.0 * a / tot if tot > 0 else 50.0


def mfi(high, low, close, volume, n: int = 14) -> np.ndarray:
    """Money flow index 100 * P / (P + N), P (N) = n-bar sum of tp * v over bars whose typical price rose
    (fell); 50 when there was no flow. Lookback n (each flow compares with the bar before)."""
    c = _f64(close)
    out = np.empty(c.shape[0])
    _mfi_k(_f64(high), _f64(low), c, _f64(volume), int(n), out)
    return out


def obv(close, volume) -> np.ndarray:
    """On-balance volume: cumulative sum of sign(c_t - c_{t-1}) * v_t, starting at v_0 (TA-Lib's seed).

    Unbounded memory (every value depends on where the series starts), so no feature uses it: the feature set
    takes its windowed change instead (``obv_flow``, :mod:`factory.features.volume`). Kept as the reference the
    benchmark compares with TA-Lib.
    """
    c = _f64(close)
    flow = np.empty_like(c)
    flow[:1] = volume[:1]
    np.multiply(np.sign(c[1:] - c[:-1]), _f64(volume)[1:], out=flow[1:])
    return np.cumsum(flow, out=flow)


def bollinger(close, n: int = 20, k: float = 2.0):
    """(upper, middle, lower) = SMA_n +- k * population std over n bars (TA-Lib BBANDS)."""
    mid, sd = rolling_mean_std(_f64(close), n, 0)
    sd *= k
    upper = mid + sd
    return upper, mid, np.subtract(mid, sd, out=sd)


def linreg_slope(x, n: int) -> np.ndarray:
    """Least-squares slope per bar of the last n values (TA-Lib LINEARREG_SLOPE)."""
    return rolling_linreg(_f64(x), n, r2=False)[0]
