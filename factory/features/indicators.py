"""Causal technical indicators shared by the feature set, the labels and the regimes.

Every function takes NumPy float64 arrays aligned on bars and returns arrays of the same length whose value at
bar t depends only on bars <= t. Leading values without a full window are NaN.

Recursive smoothers (EMA, Wilder) are seeded with the first available value, the pandas ``ewm(adjust=False)``
convention, where TA-Lib seeds them with a simple average of the first ``n`` values. The two agree to
rounding once ``(1 - alpha)^k`` has decayed (a few hundred bars for 14-bar Wilder smoothing); the NaN
warm-up lengths are TA-Lib's. Degenerate windows (no range, no volume) give the indicator's neutral value
(RSI 50, %K 50, CCI 0, ...) rather than NaN, so features stay finite on flat overnight stretches.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from factory.features.rolling import ema as _ema
from factory.features.rolling import rolling_linreg, rolling_max, rolling_mean, rolling_mean_std, rolling_min
from factory.features.rolling import rolling_std, williams_r_fused


def _f64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """max(high - low, |high - prev close|, |low - prev close|); the first bar uses high - low."""
    prev = np.empty_like(close)
    prev[0] = np.nan
    prev[1:] = close[:-1]
    tr = np.fmax(high - low, np.fmax(np.abs(high - prev), np.abs(low - prev)))
    return tr


@njit(cache=True, nogil=True)
def _atr_k(h, lo, c, n, out):
    # true range and its Wilder average in one pass (no temporaries)
    m = c.shape[0]
    alpha = 1.0 / n
    beta = 1.0 - alpha
    y = 0.0
    for i in range(m):
        tr = h[i] - lo[i]
        if i > 0:
            tr = max(tr, max(abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])))
        y = tr if i == 0 else beta * y + alpha * tr
        out[i] = y if i >= n - 1 else np.nan


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int = 14) -> np.ndarray:
    """Wilder's average true range (an EMA with alpha = 1/window), NaN for the first ``window - 1`` bars.

    Same values as ``pd.Series(true_range(...)).ewm(alpha=1/window, adjust=False, min_periods=window).mean()``
    (seeded with the first bar's high - low).
    """
    c = _f64(close)
    out = np.empty(c.shape[0])
    _atr_k(_f64(high), _f64(low), c, int(window), out)
    return out


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average over n bars."""
    return rolling_mean(_f64(x), n)


def ema(x: np.ndarray, n: int) -> np.ndarray:
    """EMA with alpha = 2 / (n + 1), NaN for the first n - 1 bars."""
    return _ema(_f64(x), 2.0 / (n + 1.0), n)


def stddev(x: np.ndarray, n: int) -> np.ndarray:
    """Population standard deviation over n bars (TA-Lib STDDEV with nbdev=1)."""
    return rolling_std(_f64(x), n, 0)


def roc(close: np.ndarray, n: int) -> np.ndarray:
    """Rate of change in percent: 100 * (c_t / c_{t-n} - 1)."""
    c = _f64(close)
    out = np.full(c.shape[0], np.nan)
    out[n:] = 100.0 * (c[n:] / c[:-n] - 1.0)
    return out


@njit(cache=True, nogil=True)
def _rsi_k(c, n, out):
    # Fused: Wilder averages of gains and losses in one pass, no temporaries.
    m = c.shape[0]
    alpha = 1.0 / n
    ag = 0.0
    al = 0.0
    out[0] = np.nan
    for i in range(1, m):
        d = c[i] - c[i - 1]
        g = d if d > 0 else 0.0
        lo = -d if d < 0 else 0.0
        if i == 1:
            ag = g
            al = lo
        else:
            ag += alpha * (g - ag)
            al += alpha * (lo - al)
        if i >= n:
            tot = ag + al
            out[i] = 100.0 * ag / tot if tot > 0 else 50.0
        else:
            out[i] = np.nan


def rsi(close: np.ndarray, n: int = 14) -> np.ndarray:
    """Wilder's RSI = 100 * AG / (AG + AL), AG/AL Wilder averages (alpha = 1/n) of gains / losses; 50 if flat."""
    c = _f64(close)
    out = np.empty(c.shape[0])
    if c.shape[0]:
        _rsi_k(c, int(n), out)
    return out


@njit(cache=True, nogil=True)
def _macd_k(c, fast, slow, signal, line, sig, hist):
    a_f = 2.0 / (fast + 1.0)
    a_s = 2.0 / (slow + 1.0)
    a_g = 2.0 / (signal + 1.0)
    ef = c[0]
    es = c[0]
    g = 0.0
    for i in range(c.shape[0]):
        if i > 0:
            ef += a_f * (c[i] - ef)
            es += a_s * (c[i] - es)
        if i < slow - 1:
            line[i] = np.nan
            sig[i] = np.nan
            hist[i] = np.nan
            continue
        ln = ef - es
        line[i] = ln
        g = ln if i == slow - 1 else g + a_g * (ln - g)
        if i >= slow + signal - 2:
            sig[i] = g
            hist[i] = ln - g
        else:
            sig[i] = np.nan
            hist[i] = np.nan


def macd(close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9):
    """(line, signal, histogram): line = EMA_fast - EMA_slow, signal = EMA_signal(line), hist = line - signal.

    EMAs seeded with the first close; the line is NaN for the first slow - 1 bars and the signal for the
    first slow + signal - 2 (TA-Lib's warm-up).
    """
    c = _f64(close)
    outs = tuple(np.empty(c.shape[0]) for _ in range(3))
    if c.shape[0]:
        _macd_k(c, int(fast), int(slow), int(signal), *outs)
    return outs


@njit(cache=True, nogil=True)
def _stoch_k(c, hh, ll, sk, sd, k_out, d_out):
    # fast %K, then two simple averages over ring buffers (summed afresh: the windows are a few bars)
    n = c.shape[0]
    fast = np.empty(sk)
    slow = np.empty(sd)
    nf = 0
    ns = 0
    for i in range(n):
        k_out[i] = np.nan
        d_out[i] = np.nan
        if not (np.isfinite(hh[i]) and np.isfinite(ll[i])):
            continue
        rng = hh[i] - ll[i]
        fast[nf % sk] = 100.0 * (c[i] - ll[i]) / rng if rng != 0 else 50.0
        nf += 1
        if nf < sk:
            continue
        kv = fast.sum() / sk
        k_out[i] = kv
        slow[ns % sd] = kv
        ns += 1
        if ns >= sd:
            d_out[i] = slow.sum() / sd


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
    _stoch_k(c, hh, ll, int(smooth_k), int(smooth_d), k, d)
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


@njit(cache=True, nogil=True)
def _cci_k(h, lo, c, n, tp, out):
    # The mean absolute deviation needs the current mean, so each bar scans its window: O(n * w), the
    # same cost as TA-Lib. The mean itself is a running sum.
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
        if i % 1024 == 0:  # stop rounding drift of the running sum
            s = 0.0
            for j in range(i - n + 1, i + 1):
                s += tp[j]
        mu = s / n
        md = 0.0
        for j in range(i - n + 1, i + 1):
            md += abs(tp[j] - mu)
        md /= n
        out[i] = (tp[i] - mu) / (0.015 * md) if md > 0 else 0.0


def cci(high, low, close, n: int = 20) -> np.ndarray:
    """Commodity channel index (tp - SMA_n(tp)) / (0.015 * mean |tp - SMA_n(tp)|), tp = (h + l + c) / 3;
    0 when the window has no deviation."""
    c = _f64(close)
    out = np.empty(c.shape[0])
    _cci_k(_f64(high), _f64(low), c, int(n), np.empty(c.shape[0]), out)
    return out


@njit(cache=True, nogil=True)
def _adx_k(h, lo, c, n, adx, pdi, mdi):
    m = c.shape[0]
    alpha = 1.0 / n
    sp = 0.0
    sm = 0.0
    st = 0.0
    ax = 0.0
    for i in range(min(m, n)):
        adx[i] = np.nan
        pdi[i] = np.nan
        mdi[i] = np.nan
    for i in range(1, m):
        up = h[i] - h[i - 1]
        dn = lo[i - 1] - lo[i]
        p = up if (up > dn and up > 0) else 0.0
        q = dn if (dn > up and dn > 0) else 0.0
        tr = max(h[i] - lo[i], max(abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])))
        if i == 1:
            sp = p
            sm = q
            st = tr
        else:
            sp += alpha * (p - sp)
            sm += alpha * (q - sm)
            st += alpha * (tr - st)
        if i >= n:
            a = 100.0 * sp / st if st > 0 else 0.0
            b = 100.0 * sm / st if st > 0 else 0.0
            pdi[i] = a
            mdi[i] = b
            dx = 100.0 * abs(a - b) / (a + b) if a + b > 0 else 0.0
            ax = dx if i == n else ax + alpha * (dx - ax)
            adx[i] = ax if i >= 2 * n - 1 else np.nan


def adx(high, low, close, n: int = 14):
    """(ADX, +DI, -DI), Wilder (1978): DM+ = h_t - h_{t-1} if it exceeds l_{t-1} - l_t and is > 0 (DM- alike),
    DI+- = 100 * W(DM+-) / W(TR), DX = 100 * |DI+ - DI-| / (DI+ + DI-), ADX = W(DX); W is Wilder smoothing."""
    c = _f64(close)
    outs = tuple(np.empty(c.shape[0]) for _ in range(3))
    _adx_k(_f64(high), _f64(low), c, int(n), *outs)
    return outs


@njit(cache=True, nogil=True)
def _mfi_k(h, lo, c, v, n, out):
    # Positive / negative money flows and their n-bar sums in one pass (ring buffers of the flows).
    m = c.shape[0]
    pos = np.zeros(n)
    neg = np.zeros(n)
    sp = 0.0
    sn = 0.0
    prev = (h[0] + lo[0] + c[0]) / 3.0 if m else 0.0
    out[: min(m, n)] = np.nan
    k = 0
    for i in range(1, m):
        tp = (h[i] + lo[i] + c[i]) / 3.0
        f = tp * v[i]
        p = f if tp > prev else 0.0
        q = f if tp < prev else 0.0
        prev = tp
        sp += p - pos[k]
        sn += q - neg[k]
        pos[k] = p
        neg[k] = q
        k += 1
        if k == n:
            k = 0
            sp = 0.0
            sn = 0.0
            for j in range(n):  # stop rounding drift
                sp += pos[j]
                sn += neg[j]
        if i >= n:
            tot = sp + sn
            out[i] = 100.0 * sp / tot if tot > 0 else 50.0


def mfi(high, low, close, volume, n: int = 14) -> np.ndarray:
    """Money flow index 100 * P / (P + N), P (N) = n-bar sum of tp * v over bars whose typical price rose
    (fell); 50 when there was no flow."""
    c = _f64(close)
    out = np.empty(c.shape[0])
    _mfi_k(_f64(high), _f64(low), c, _f64(volume), int(n), out)
    return out


def obv(close, volume) -> np.ndarray:
    """On-balance volume: cumulative sum of sign(c_t - c_{t-1}) * v_t, starting at v_0 (TA-Lib's seed)."""
    c = _f64(close)
    flow = np.empty_like(c)
    flow[:1] = volume[:1]
    np.multiply(np.sign(c[1:] - c[:-1]), _f64(volume)[1:], out=flow[1:])
    return np.cumsum(flow, out=flow)


def bollinger(close, n: int = 20, k: float = 2.0):
    """(upper, middle, lower) = SMA_n +- k * population std over n bars (TA-Lib BBANDS)."""
    mid, sd = rolling_mean_std(_f64(close), n, 0)
    sd *= k
    return mid + sd, mid, mid - sd


def linreg_slope(x, n: int) -> np.ndarray:
    """Least-squares slope per bar of the last n values (TA-Lib LINEARREG_SLOPE)."""
    return rolling_linreg(_f64(x), n, r2=False)[0]
