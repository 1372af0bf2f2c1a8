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
from factory.features.rolling import rolling_sum, safe_div


def _f64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """max(high - low, |high - prev close|, |low - prev close|); the first bar uses high - low."""
    prev = np.empty_like(close)
    prev[0] = np.nan
    prev[1:] = close[:-1]
    tr = np.fmax(high - low, np.fmax(np.abs(high - prev), np.abs(low - prev)))
    return tr


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int = 14) -> np.ndarray:
    """Wilder's average true range (an EMA with alpha = 1/window), NaN for the first ``window - 1`` bars.

    Identical to ``pd.Series(true_range(...)).ewm(alpha=1/window, adjust=False, min_periods=window).mean()``.
    """
    tr = true_range(_f64(high), _f64(low), _f64(close))
    return _ema(tr, 1.0 / window, window)


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average over n bars."""
    return rolling_mean(_f64(x), n)


def ema(x: np.ndarray, n: int) -> np.ndarray:
    """EMA with alpha = 2 / (n + 1), NaN for the first n - 1 bars."""
    return _ema(_f64(x), 2.0 / (n + 1.0), n)


def stddev(x: np.ndarray, n: int) -> np.ndarray:
    """Population standard deviation over n bars (TA-Lib STDDEV with nbdev=1)."""
    return rolling_mean_std(_f64(x), n, 0)[1]


def roc(close: np.ndarray, n: int) -> np.ndarray:
    """Rate of change in percent: 100 * (c_t / c_{t-n} - 1)."""
    c = _f64(close)
    out = np.full(c.shape[0], np.nan)
    out[n:] = 100.0 * (c[n:] / c[:-n] - 1.0)
    return out


@njit(cache=True, nogil=True)
def _rsi(c: np.ndarray, n: int) -> np.ndarray:
    # Fused: Wilder averages of gains and losses in one pass, no temporaries.
    m = c.shape[0]
    out = np.full(m, np.nan)
    alpha = 1.0 / n
    ag = 0.0
    al = 0.0
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
    return out


def rsi(close: np.ndarray, n: int = 14) -> np.ndarray:
    """Wilder's RSI = 100 * AG / (AG + AL), AG/AL Wilder averages (alpha = 1/n) of gains / losses; 50 if flat."""
    return _rsi(_f64(close), n)


def macd(close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9):
    """(line, signal, histogram): line = EMA_fast - EMA_slow, signal = EMA_signal(line), hist = line - signal."""
    c = _f64(close)
    line = _ema(c, 2.0 / (fast + 1.0), slow) - _ema(c, 2.0 / (slow + 1.0), slow)
    sig = _ema(line, 2.0 / (signal + 1.0), signal)
    return line, sig, line - sig


def stochastic(high, low, close, n: int = 14, smooth_k: int = 3, smooth_d: int = 3, *, hh=None, ll=None):
    """Slow stochastic (TA-Lib STOCH with SMA smoothing): fast %K = 100 * (c - LL_n) / (HH_n - LL_n),
    %K = SMA_smooth_k(fast %K), %D = SMA_smooth_d(%K). Fast %K is 50 when HH = LL.

    ``hh`` / ``ll`` may pass precomputed n-bar highest high / lowest low.
    """
    c = _f64(close)
    hh = rolling_max(_f64(high), n) if hh is None else hh
    ll = rolling_min(_f64(low), n) if ll is None else ll
    fast = safe_div(100.0 * (c - ll), hh - ll, 50.0)
    k = rolling_mean(fast, smooth_k)
    return k, rolling_mean(k, smooth_d)


def williams_r(high, low, close, n: int = 14, *, hh=None, ll=None) -> np.ndarray:
    """Williams %R = -100 * (HH_n - c) / (HH_n - LL_n); -50 when HH = LL (``hh`` / ``ll`` as in stochastic)."""
    c = _f64(close)
    hh = rolling_max(_f64(high), n) if hh is None else hh
    ll = rolling_min(_f64(low), n) if ll is None else ll
    return safe_div(-100.0 * (hh - c), hh - ll, -50.0)


@njit(cache=True, nogil=True)
def _cci(tp: np.ndarray, n: int) -> np.ndarray:
    # The mean absolute deviation needs the current mean, so each bar scans its window: O(n * w),
    # the same cost as TA-Lib.
    m = tp.shape[0]
    out = np.full(m, np.nan)
    mean = rolling_mean(tp, n)
    for i in range(n - 1, m):
        mu = mean[i]
        if not np.isfinite(mu):
            continue
        md = 0.0
        for j in range(i - n + 1, i + 1):
            md += abs(tp[j] - mu)
        md /= n
        out[i] = (tp[i] - mu) / (0.015 * md) if md > 0 else 0.0
    return out


def cci(high, low, close, n: int = 20) -> np.ndarray:
    """Commodity channel index (tp - SMA_n(tp)) / (0.015 * mean |tp - SMA_n(tp)|), tp = (h + l + c) / 3."""
    tp = (_f64(high) + _f64(low) + _f64(close)) / 3.0
    return _cci(tp, n)


@njit(cache=True, nogil=True)
def _adx(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int):
    m = c.shape[0]
    adx = np.full(m, np.nan)
    pdi = np.full(m, np.nan)
    mdi = np.full(m, np.nan)
    alpha = 1.0 / n
    sp = 0.0
    sm = 0.0
    st = 0.0
    ax = 0.0
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
            if i == n:
                ax = dx
            else:
                ax += alpha * (dx - ax)
            if i >= 2 * n - 1:
                adx[i] = ax
    return adx, pdi, mdi


def adx(high, low, close, n: int = 14):
    """(ADX, +DI, -DI), Wilder (1978): DM+ = h_t - h_{t-1} if it exceeds l_{t-1} - l_t and is > 0 (DM- alike),
    DI+- = 100 * W(DM+-) / W(TR), DX = 100 * |DI+ - DI-| / (DI+ + DI-), ADX = W(DX); W is Wilder smoothing."""
    return _adx(_f64(high), _f64(low), _f64(close), n)


@njit(cache=True, nogil=True)
def _money_flows(tp: np.ndarray, v: np.ndarray):
    m = tp.shape[0]
    pos = np.full(m, np.nan)
    neg = np.full(m, np.nan)
    for i in range(1, m):
        f = tp[i] * v[i]
        pos[i] = f if tp[i] > tp[i - 1] else 0.0
        neg[i] = f if tp[i] < tp[i - 1] else 0.0
    return pos, neg


def mfi(high, low, close, volume, n: int = 14) -> np.ndarray:
    """Money flow index 100 * P / (P + N), P (N) = n-bar sum of tp * v over bars whose typical price rose
    (fell); 50 when there was no flow."""
    tp = (_f64(high) + _f64(low) + _f64(close)) / 3.0
    pos, neg = _money_flows(tp, _f64(volume))
    p = rolling_sum(pos, n)
    q = rolling_sum(neg, n)
    return safe_div(100.0 * p, p + q, 50.0)


def obv(close, volume) -> np.ndarray:
    """On-balance volume: cumulative sum of sign(c_t - c_{t-1}) * v_t, starting at v_0 (TA-Lib's seed)."""
    c = _f64(close)
    flow = np.empty_like(c)
    flow[0] = volume[0]
    flow[1:] = np.sign(c[1:] - c[:-1]) * _f64(volume)[1:]
    return np.cumsum(flow)


def bollinger(close, n: int = 20, k: float = 2.0):
    """(upper, middle, lower) = SMA_n +- k * population std over n bars (TA-Lib BBANDS)."""
    mid, sd = rolling_mean_std(_f64(close), n, 0)
    return mid + k * sd, mid, mid - k * sd


def linreg_slope(x, n: int) -> np.ndarray:
    """Least-squares slope per bar of the last n values (TA-Lib LINEARREG_SLOPE)."""
    return rolling_linreg(_f64(x), n)[0]
