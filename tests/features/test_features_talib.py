"""Our indicators against TA-Lib on the same bars.

Windowed indicators without recursion (SMA, Bollinger, Williams %R, CCI, stochastic, MFI, regression slope,
ROC, OBV) agree with TA-Lib everywhere both are defined.

Recursive averages (EMA, Wilder's RSI / ATR / ADX smoothing, MACD) are TA-Lib's recursions with their memory cut
at W = ceil(memory / alpha) bars and the weights renormalised (bounded memory, so a served request of the
lookback's length computes what the full history computes). They are checked three ways: equal to a direct
evaluation of that definition (a weighted sum over each window, NumPy); close to TA-Lib's unbounded values,
within what the left-out weight e^-memory allows (default memory 5: 0.7 %); and equal to TA-Lib once the memory
is long enough for the left-out weight to vanish (memory 25), which shows the recursion itself is TA-Lib's.
TA-Lib's own seed (a simple average of the first n values) decays away, so values are compared on the second
half of 20,000 bars.
"""

from __future__ import annotations

import numpy as np
import pytest

talib = pytest.importorskip("talib")

from factory.features import FeatureConfig, compute_features  # noqa: E402
from factory.features import indicators as ind  # noqa: E402
from feature_bars import random_walk_bars  # noqa: E402

N = 20_000
HALF = N // 2


@pytest.fixture(scope="module")
def walk():
    b = random_walk_bars(N, seed=21)
    return {k: b[k].to_numpy() for k in ("open", "high", "low", "close", "volume")} | {"bars": b}


def close(a, b, rtol=1e-9, atol=1e-9, start=HALF):
    a = np.asarray(a, float)[start:]
    b = np.asarray(b, float)[start:]
    assert np.isfinite(a).all() and np.isfinite(b).all()
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def same_warmup(ours, theirs):
    """The first non-NaN bar is TA-Lib's."""
    assert np.argmax(np.isfinite(ours)) == np.argmax(np.isfinite(theirs))


LONG = 25.0  # memory at which the left-out weight e^-25 ~ 1e-11 is below rounding of these comparisons


def windowed_ewm(x: np.ndarray, alpha: float, w: int) -> np.ndarray:
    """The definition, evaluated directly: sum_{j<w} alpha (1-alpha)^j x_{t-j} / (1 - (1-alpha)^w)."""
    weights = alpha * (1 - alpha) ** np.arange(w)[::-1]
    out = np.full(len(x), np.nan)
    out[w - 1:] = np.lib.stride_tricks.sliding_window_view(x, w) @ (weights / weights.sum())
    return out


def test_bounded_smoothers_are_the_definition(walk):
    c = walk["close"]
    h, lo = walk["high"], walk["low"]
    for n in (5, 20, 240):
        close(ind.ema(c, n), windowed_ewm(c, 2 / (n + 1), ind.ema_span_window(n)), rtol=1e-12, atol=1e-9)
    tr = ind.true_range(h, lo, c)
    for n in (5, 14, 60):
        ref = np.full(len(c), np.nan)
        ref[1:] = windowed_ewm(tr[1:], 1 / n, ind.wilder_window(n))
        close(ind.atr(h, lo, c, n), ref, rtol=1e-11, atol=1e-12)
        assert np.isnan(ind.atr(h, lo, c, n)[: ind.wilder_window(n)]).all()  # lookback W: NaN before
    d = np.diff(c)
    for n in (7, 14, 28):
        w = ind.wilder_window(n)
        g, q = windowed_ewm(np.maximum(d, 0), 1 / n, w), windowed_ewm(np.maximum(-d, 0), 1 / n, w)
        ref = np.r_[np.nan, 100 * g / (g + q)]
        close(ind.rsi(c, n), ref, rtol=1e-11, atol=1e-9, start=w)


@pytest.mark.parametrize("n", [5, 20, 240])
def test_sma_ema(walk, n):
    c = walk["close"]
    atr14 = talib.ATR(walk["high"], walk["low"], c, 14)
    close(ind.sma(c, n), talib.SMA(c, n), start=n)
    same_warmup(ind.sma(c, n), talib.SMA(c, n))
    # TA-Lib's value is (1 - beta^W) ours + beta^W (a mean of older closes), so the two differ by at most the
    # left-out weight beta^W times the range of the closes (here below an ATR).
    diff = np.abs(ind.ema(c, n) - talib.EMA(c, n))[HALF:]
    beta_w = (1 - 2 / (n + 1)) ** ind.ema_span_window(n)
    assert beta_w < np.exp(-4.9) and diff.max() <= beta_w * (c.max() - c.min()) * (1 + 1e-9)
    assert (diff / atr14[HALF:]).max() < 1.0
    close(ind.ema(c, n, LONG), talib.EMA(c, n), rtol=1e-9, atol=1e-7)


@pytest.mark.parametrize("n", [7, 14, 28])
def test_rsi(walk, n):
    c = walk["close"]
    assert np.abs(ind.rsi(c, n) - talib.RSI(c, n))[HALF:].max() < 1.5  # RSI points
    close(ind.rsi(c, n, LONG), talib.RSI(c, n), atol=1e-7)


@pytest.mark.parametrize("n", [5, 14, 60])
def test_atr(walk, n):
    h, lo, c = walk["high"], walk["low"], walk["close"]
    ref = talib.ATR(h, lo, c, n)
    assert (np.abs(ind.atr(h, lo, c, n) - ref) / ref)[HALF:].max() < 0.02
    close(ind.atr(h, lo, c, n, LONG), ref, rtol=1e-8)


@pytest.mark.parametrize("n", [14, 60])
def test_adx_and_di(walk, n):
    h, lo, c = walk["high"], walk["low"], walk["close"]
    a, p, m = ind.adx(h, lo, c, n)
    assert np.abs(a - talib.ADX(h, lo, c, n))[HALF:].max() < 2.0
    assert np.abs(p - talib.PLUS_DI(h, lo, c, n))[HALF:].max() < 1.0
    a, p, m = ind.adx(h, lo, c, n, LONG)
    close(a, talib.ADX(h, lo, c, n), atol=1e-7)
    close(p, talib.PLUS_DI(h, lo, c, n), atol=1e-7)
    close(m, talib.MINUS_DI(h, lo, c, n), atol=1e-7)
    # lookback: DIs from bar W, ADX from bar 2 W - 1
    w = ind.wilder_window(n)
    b = ind.adx(h, lo, c, n)
    assert np.isnan(b[1][:w]).all() and np.isfinite(b[1][w])
    assert np.isnan(b[0][: 2 * w - 1]).all() and np.isfinite(b[0][2 * w - 1])


@pytest.mark.parametrize("n", [14, 60])
def test_williams_r_and_stochastic(walk, n):
    h, lo, c = walk["high"], walk["low"], walk["close"]
    ours = ind.williams_r(h, lo, c, n)
    # TA-Lib returns 0 (ours -50) on a window without range; none occurs where both are compared
    rng = talib.MAX(h, n) - talib.MIN(lo, n)
    ok = rng > 0
    np.testing.assert_allclose(ours[n:][ok[n:]], talib.WILLR(h, lo, c, n)[n:][ok[n:]], atol=1e-9)
    k, d = ind.stochastic(h, lo, c, n)
    tk, td = talib.STOCH(h, lo, c, fastk_period=n, slowk_period=3, slowk_matype=0, slowd_period=3, slowd_matype=0)
    close(k, tk, start=n + 4)
    close(d, td, start=n + 4)
    same_warmup(d, td)


@pytest.mark.parametrize("n", [20, 60])
def test_cci(walk, n):
    h, lo, c = walk["high"], walk["low"], walk["close"]
    close(ind.cci(h, lo, c, n), talib.CCI(h, lo, c, n), rtol=1e-7, atol=1e-7, start=n)
    same_warmup(ind.cci(h, lo, c, n), talib.CCI(h, lo, c, n))


@pytest.mark.parametrize("n", [14, 60])
def test_mfi(walk, n):
    h, lo, c, v = walk["high"], walk["low"], walk["close"], walk["volume"]
    close(ind.mfi(h, lo, c, v, n), talib.MFI(h, lo, c, v, n), rtol=1e-7, atol=1e-7, start=n)
    same_warmup(ind.mfi(h, lo, c, v, n), talib.MFI(h, lo, c, v, n))


def test_macd(walk):
    c = walk["close"]
    atr14 = talib.ATR(walk["high"], walk["low"], c, 14)
    for (f, s, g) in [(12, 26, 9), (48, 104, 36)]:
        theirs = talib.MACD(c, fastperiod=f, slowperiod=s, signalperiod=g)
        for a, b in zip(ind.macd(c, f, s, g), theirs):
            assert (np.abs(a - b)[HALF:] / atr14[HALF:]).max() < 0.5
        for a, b in zip(ind.macd(c, f, s, g, LONG), theirs):
            close(a, b, atol=1e-7)
        line, sig, _ = ind.macd(c, f, s, g)
        ws, wg = ind.ema_span_window(s), ind.ema_span_window(g)
        assert np.isnan(line[: ws - 1]).all() and np.isfinite(line[ws - 1])
        assert np.isnan(sig[: ws + wg - 2]).all() and np.isfinite(sig[ws + wg - 2])


def test_obv_bollinger_slope_roc_stddev(walk):
    c, v = walk["close"], walk["volume"]
    close(ind.obv(c, v), talib.OBV(c, v), start=0)
    for n in (20, 60, 240):
        for a, b in zip(ind.bollinger(c, n), talib.BBANDS(c, timeperiod=n, nbdevup=2, nbdevdn=2, matype=0)):
            close(a, b, rtol=1e-10, start=n)
        close(ind.linreg_slope(c, n), talib.LINEARREG_SLOPE(c, n), atol=1e-8, start=n)
        close(ind.stddev(c, n), talib.STDDEV(c, n), atol=1e-7, start=n)
        close(ind.roc(c, n), talib.ROC(c, n), start=n)


def test_feature_columns_match_talib(walk):
    """The feature columns are the TA-Lib quantities (normalised as documented)."""
    b = walk["bars"]
    h, lo, c, v = walk["high"], walk["low"], walk["close"], walk["volume"]
    x = compute_features(b, FeatureConfig(recursion_memory=LONG))
    atr14 = talib.ATR(h, lo, c, 14)
    close(x["rsi_14"], talib.RSI(c, 14), atol=1e-7)
    close(x["adx_14"], talib.ADX(h, lo, c, 14), atol=1e-7)
    close(x["cci_20"], talib.CCI(h, lo, c, 20), rtol=1e-7, atol=1e-7)
    close(x["mfi_60"], talib.MFI(h, lo, c, v, 60), rtol=1e-7, atol=1e-7)
    close(x["stoch_d_60"], talib.STOCH(h, lo, c, 60, 3, 0, 3, 0)[1])
    close(x["sma_dist_60"], (c - talib.SMA(c, 60)) / atr14, rtol=1e-7)
    close(x["ema_dist_240"], (c - talib.EMA(c, 240)) / atr14, rtol=1e-6, atol=1e-6)
    close(x["macd_12_26_hist"], talib.MACD(c)[2] / c, atol=1e-11)
    close(x["atr_norm_60"], talib.ATR(h, lo, c, 60) / c, rtol=1e-7)
    up, mid, low = talib.BBANDS(c, 20, 2, 2, 0)
    close(x["bb_pctb_20"], (c - low) / (up - low), rtol=1e-7, atol=1e-9)
    close(x["linreg_slope_60"], 1e4 * talib.LINEARREG_SLOPE(np.log(c), 60), rtol=1e-6, atol=1e-9)
    obv = talib.OBV(c, v)
    close(x["obv_flow_60"], (obv - np.roll(obv, 60)) / talib.SUM(v, 60), rtol=1e-7, atol=1e-12)
    close(x["roc_45"], talib.ROC(c, 45))
