"""Our indicators against TA-Lib on the same bars.

TA-Lib seeds its recursive averages (EMA, Wilder's RSI / ATR / ADX smoothing, MACD) with a simple average of
the first n values; ours start from the first value (pandas' ``ewm(adjust=False)``). The difference decays
like (1 - alpha)^k, so values are compared only after a long warm-up (here the second half of 20,000 bars),
where both agree to rounding. Windowed indicators without recursion (SMA, Bollinger, Williams %R, CCI,
stochastic, MFI, regression slope, ROC, OBV) agree everywhere both are defined.
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


@pytest.mark.parametrize("n", [5, 20, 240])
def test_sma_ema(walk, n):
    c = walk["close"]
    close(ind.sma(c, n), talib.SMA(c, n), start=n)
    close(ind.ema(c, n), talib.EMA(c, n))
    same_warmup(ind.sma(c, n), talib.SMA(c, n))
    same_warmup(ind.ema(c, n), talib.EMA(c, n))


@pytest.mark.parametrize("n", [7, 14, 28])
def test_rsi(walk, n):
    c = walk["close"]
    close(ind.rsi(c, n), talib.RSI(c, n))
    same_warmup(ind.rsi(c, n), talib.RSI(c, n))


@pytest.mark.parametrize("n", [5, 14, 60])
def test_atr(walk, n):
    h, lo, c = walk["high"], walk["low"], walk["close"]
    close(ind.atr(h, lo, c, n), talib.ATR(h, lo, c, n))


@pytest.mark.parametrize("n", [14, 60])
def test_adx_and_di(walk, n):
    h, lo, c = walk["high"], walk["low"], walk["close"]
    a, p, m = ind.adx(h, lo, c, n)
    close(a, talib.ADX(h, lo, c, n))
    close(p, talib.PLUS_DI(h, lo, c, n))
    close(m, talib.MINUS_DI(h, lo, c, n))
    same_warmup(a, talib.ADX(h, lo, c, n))
    same_warmup(p, talib.PLUS_DI(h, lo, c, n))


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
    for (f, s, g) in [(12, 26, 9), (48, 104, 36)]:
        ours = ind.macd(c, f, s, g)
        theirs = talib.MACD(c, fastperiod=f, slowperiod=s, signalperiod=g)
        for a, b in zip(ours, theirs):
            close(a, b, atol=1e-8)
        # TA-Lib hides the line until the signal exists; ours shows it from bar slow - 1
        same_warmup(ours[1], theirs[1])
        same_warmup(ours[2], theirs[2])


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
    x = compute_features(b, FeatureConfig(dtype="float64"))
    atr14 = talib.ATR(h, lo, c, 14)
    close(x["rsi_14"], talib.RSI(c, 14))
    close(x["adx_14"], talib.ADX(h, lo, c, 14))
    close(x["cci_20"], talib.CCI(h, lo, c, 20), rtol=1e-7, atol=1e-7)
    close(x["mfi_60"], talib.MFI(h, lo, c, v, 60), rtol=1e-7, atol=1e-7)
    close(x["stoch_d_60"], talib.STOCH(h, lo, c, 60, 3, 0, 3, 0)[1])
    close(x["sma_dist_60"], (c - talib.SMA(c, 60)) / atr14, rtol=1e-7)
    close(x["ema_dist_240"], (c - talib.EMA(c, 240)) / atr14, rtol=1e-7)
    close(x["macd_12_26_hist"], talib.MACD(c)[2] / c, atol=1e-12)
    close(x["atr_norm_60"], talib.ATR(h, lo, c, 60) / c)
    up, mid, low = talib.BBANDS(c, 20, 2, 2, 0)
    close(x["bb_pctb_20"], (c - low) / (up - low), rtol=1e-7, atol=1e-9)
    close(x["linreg_slope_60"], 1e4 * talib.LINEARREG_SLOPE(np.log(c), 60), rtol=1e-6, atol=1e-9)
    obv = talib.OBV(c, v)
    close(x["obv_flow_60"], (obv - np.roll(obv, 60)) / talib.SUM(v, 60), rtol=1e-7, atol=1e-12)
    close(x["roc_45"], talib.ROC(c, 45))
