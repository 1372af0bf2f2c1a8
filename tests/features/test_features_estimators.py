"""Hand-computed values of individual estimators and kernels on tiny inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factory.features import FeatureConfig, compute_features
from factory.features import rolling as ro
from factory.features.complexity import sign_entropy
from factory.features.fracdiff import fracdiff, fracdiff_weights

# Four bars (open, high, low, close) of a tiny example.
OHLC = [
    (100.0, 102.0, 99.0, 101.0),
    (101.5, 103.0, 100.0, 102.0),
    (102.0, 102.5, 100.5, 101.0),
    (100.0, 104.0, 99.8, 103.5),
]
W = 3
TINY = FeatureConfig(dtype="float64", windows=(W, 4), band_windows=(3,), stat_windows=(4,), hurst_lags=(2,),
                     return_horizons=(1, 3))


@pytest.fixture(scope="module")
def tiny():
    o, h, lo, c = (np.array(x) for x in zip(*OHLC))
    ts = pd.date_range("2024-01-08 15:00", periods=4, freq="1min", tz="UTC")
    bars = pd.DataFrame({"timestamp": ts, "open": o, "high": h, "low": lo, "close": c, "volume": [10.0, 20, 30, 40]})
    return bars, compute_features(bars, TINY).iloc[-1]


def test_parkinson(tiny):
    _, x = tiny
    terms = [math.log(h / lo) ** 2 for _, h, lo, _ in OHLC[1:]]
    assert x[f"vol_park_{W}"] == pytest.approx(math.sqrt(sum(terms) / W / (4 * math.log(2))), rel=1e-12)


def test_garman_klass(tiny):
    _, x = tiny
    terms = [0.5 * math.log(h / lo) ** 2 - (2 * math.log(2) - 1) * math.log(c / o) ** 2 for o, h, lo, c in OHLC[1:]]
    assert x[f"vol_gk_{W}"] == pytest.approx(math.sqrt(sum(terms) / W), rel=1e-12)


def test_rogers_satchell(tiny):
    _, x = tiny
    terms = [math.log(h / c) * math.log(h / o) + math.log(lo / c) * math.log(lo / o) for o, h, lo, c in OHLC[1:]]
    assert x[f"vol_rs_{W}"] == pytest.approx(math.sqrt(sum(terms) / W), rel=1e-12)


def test_yang_zhang(tiny):
    _, x = tiny
    gaps = [math.log(OHLC[i][0] / OHLC[i - 1][3]) for i in (1, 2, 3)]
    oc = [math.log(c / o) for o, _, _, c in OHLC[1:]]
    rs = [math.log(h / c) * math.log(h / o) + math.log(lo / c) * math.log(lo / o) for o, h, lo, c in OHLC[1:]]

    def var(v):
        m = sum(v) / len(v)
        return sum((a - m) ** 2 for a in v) / (len(v) - 1)

    k = 0.34 / (1.34 + (W + 1) / (W - 1))
    expected = math.sqrt(var(gaps) + k * var(oc) + (1 - k) * sum(rs) / W)
    assert x[f"vol_yz_{W}"] == pytest.approx(expected, rel=1e-12)


def test_close_to_close_and_returns(tiny):
    _, x = tiny
    c = [b[3] for b in OHLC]
    r = [math.log(c[i] / c[i - 1]) for i in (1, 2, 3)]
    m = sum(r) / 3
    assert x[f"vol_cc_{W}"] == pytest.approx(math.sqrt(sum((a - m) ** 2 for a in r) / 2), rel=1e-12)
    assert x["ret_log_3"] == pytest.approx(math.log(c[3] / c[0]), rel=1e-12)
    assert x["bar_gap"] == pytest.approx(math.log(100.0 / 101.0), rel=1e-12)
    assert x["bar_close_pos"] == pytest.approx((103.5 - 99.8) / (104.0 - 99.8), rel=1e-12)


def test_fracdiff_weights():
    np.testing.assert_allclose(fracdiff_weights(0.5, 0.03), [1.0, -0.5, -0.125, -0.0625, -0.0390625])
    np.testing.assert_allclose(fracdiff_weights(1.0, 1e-5), [1.0, -1.0])  # d = 1 is the first difference
    w = fracdiff_weights(0.4, 1e-4)
    assert abs(w[-1]) >= 1e-4 and abs(-w[-1] * (0.4 - len(w) + 1) / len(w)) < 1e-4


def test_fracdiff_values_use_past_only():
    x = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    out = fracdiff(x, 0.5, 0.1)  # weights 1, -0.5, -0.125
    assert np.isnan(out[:2]).all()
    assert out[2] == pytest.approx(4.0 - 0.5 * 2.0 - 0.125 * 1.0)
    assert out[4] == pytest.approx(11.0 - 0.5 * 7.0 - 0.125 * 4.0)


def _windows(x, w):
    """Reference: every full window as a row (NaN rows where the window holds a NaN), aligned on its end."""
    out = np.full((len(x), w), np.nan)
    out[w - 1 :] = np.lib.stride_tricks.sliding_window_view(x, w)
    return out


def test_rolling_kernels_match_references():
    rng = np.random.default_rng(0)
    x = 5000 + np.cumsum(rng.normal(size=3000))
    y = rng.normal(size=3000)
    x[[100, 1500]] = np.nan  # missing values blank exactly the windows containing them
    s = pd.Series(x)
    for w in (2, 7, 60):
        wx, wy = _windows(x, w), _windows(y, w)
        np.testing.assert_allclose(ro.rolling_sum(x, w), s.rolling(w).sum(), rtol=1e-11, atol=1e-8)
        mean, sd = ro.rolling_mean_std(x, w, 1)
        np.testing.assert_allclose(mean, wx.mean(axis=1), rtol=1e-12)
        # two-pass std of each window: pandas' online update is *less* accurate than the kernel here
        np.testing.assert_allclose(sd, wx.std(axis=1, ddof=1), rtol=1e-9, atol=1e-10)
        np.testing.assert_array_equal(ro.rolling_max(x, w), s.rolling(w).max())
        np.testing.assert_array_equal(ro.rolling_min(x, w), s.rolling(w).min())
        cov, cor = ro.rolling_cov_corr(x, y, w)
        dx = wx - wx.mean(axis=1, keepdims=True)
        dy = wy - wy.mean(axis=1, keepdims=True)
        ref_cov = (dx * dy).sum(axis=1) / (w - 1)
        ref_cor = (dx * dy).sum(axis=1) / np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
        np.testing.assert_allclose(cov, ref_cov, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(cor, ref_cor, rtol=0, atol=1e-7)  # values ~5000, spreads ~1e-3 at w=2
    # the bounded exponential mean is the weighted mean of each window; a missing value blanks its windows
    for w in (1, 5, 40):
        weights = 0.1 * 0.9 ** np.arange(w)[::-1]
        ref = np.full(len(x), np.nan)
        ref[w - 1:] = _windows(x, w)[w - 1:] @ (weights / weights.sum())
        np.testing.assert_allclose(ro.ewm_window(x, 0.1, w), ref, rtol=1e-12)
    zeros = np.zeros(200)
    zeros[50] = 3.0
    out = ro.ewm_window(zeros, 0.3, 10)
    assert (out[60:] == 0.0).all() and out[59] > 0  # a window of zeros is exactly 0, not rounding residue


def test_rolling_linreg_matches_numpy():
    rng = np.random.default_rng(1)
    y = 8.4 + np.cumsum(rng.normal(0, 1e-3, 500))
    slope, r2 = ro.rolling_linreg(y, 30)
    for t in (29, 30, 31, 59, 60, 61, 250, 499):
        seg = y[t - 29 : t + 1]
        b, a = np.polyfit(np.arange(30), seg, 1)
        pred = a + b * np.arange(30)
        r2_ref = 1 - ((seg - pred) ** 2).sum() / ((seg - seg.mean()) ** 2).sum()
        assert slope[t] == pytest.approx(b, rel=1e-8)
        assert r2[t] == pytest.approx(r2_ref, rel=1e-8)


def test_flat_window_gives_exact_zeros():
    x = np.r_[np.linspace(4000, 4010, 50), np.full(80, 4003.25)]
    mean, sd = ro.rolling_mean_std(x, 20, 1)
    assert (sd[75:] == 0.0).all()
    _, cor = ro.rolling_cov_corr(x, np.arange(130.0), 20)
    assert (cor[75:] == 0.0).all()
    _, r2 = ro.rolling_linreg(x, 20)
    assert (r2[75:] == 0.0).all()


def test_sign_entropy():
    # alternating up/down: patterns (+,-) and (-,+) only, equally often -> ln 2 / ln 9
    r = np.tile([0.001, -0.001], 50)
    r[0] = np.nan
    h = sign_entropy(r, 20)
    assert np.isnan(h[:21]).all()
    np.testing.assert_allclose(h[21:], math.log(2) / math.log(9))
    const = np.r_[np.nan, np.full(60, 0.002)]
    assert sign_entropy(const, 10)[-1] == 0.0


def test_hurst_of_trend_and_reversal():
    cfg = FeatureConfig(dtype="float64")
    n = 2000
    ts = pd.date_range("2024-01-08 00:00", periods=n, freq="1min", tz="UTC")
    rng = np.random.default_rng(3)

    def bars(ret):
        c = 4000 * np.exp(np.cumsum(ret))
        return pd.DataFrame({"timestamp": ts, "open": c, "high": c * 1.0001, "low": c * 0.9999, "close": c,
                             "volume": np.full(n, 10.0)})

    from scipy.signal import lfilter

    noise = rng.normal(0, 1e-4, n)
    momentum = lfilter([1.0], [1.0, -0.6], noise)  # r_t = 0.6 r_{t-1} + e_t
    trending = compute_features(bars(momentum), cfg)["hurst_vr_16"].iloc[-1]
    reverting = compute_features(bars(np.diff(np.r_[0, noise])), cfg)["hurst_vr_16"].iloc[-1]
    walk = compute_features(bars(noise), cfg)["hurst_vr_16"].iloc[-1]
    assert trending > 0.65 and reverting < 0.2 and 0.35 < walk < 0.65


def test_session_features_across_daylight_saving():
    # 2024-03-10: Chicago moves from UTC-6 to UTC-5; the session still opens at 17:00 local.
    ts = pd.DatetimeIndex(["2024-03-08 21:59", "2024-03-10 22:00", "2024-03-10 22:01", "2024-03-11 14:30",
                           "2024-03-11 20:59", "2024-03-11 22:00"], tz="UTC")
    n = len(ts)
    b = pd.DataFrame({"timestamp": ts, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0},
                     index=range(n))
    x = compute_features(b, FeatureConfig(dtype="float64"))
    # Fri 15:59 CST; Sun 17:00 CDT (open); Sun 17:01; Mon 09:30 CDT; Mon 15:59; Mon 17:00 (next session)
    assert list(x["session_minutes"]) == [1379, 0, 1, 990, 1379, 0]
    # The first bar's session began before the data did: when is unknown, so its count is undefined.
    assert np.isnan(x["bars_since_open"].iloc[0])
    assert list(x["bars_since_open"].iloc[1:]) == [0, 1, 2, 3, 0]
    assert list(x["day_of_week"]) == [4, 6, 6, 0, 0, 0]
    assert list(x["hour"]) == [15, 17, 17, 9, 15, 17]
    assert list(x["is_rth"]) == [0, 0, 0, 1, 0, 0]
    assert x["gap_log"].iloc[2] == 0.0 and np.isnan(x["gap_log"].iloc[0])


def test_higher_timeframe_values_by_hand():
    # Bars at minutes 0..59 of an hour; 15-minute buckets [0,15), [15,30), [30,45), [45,60). The data's first
    # bucket is never used: the data may have started inside it.
    n = 60
    ts = pd.date_range("2024-01-08 14:00", periods=n, freq="1min", tz="UTC")
    c = 100.0 + np.arange(n)
    b = pd.DataFrame({"timestamp": ts, "open": c - 0.5, "high": c + 1, "low": c - 1, "close": c, "volume": 1.0})
    cfg = FeatureConfig(dtype="float64", higher_timeframes=("15min",), htf_window=2, htf_period=2)
    x = compute_features(b, cfg)
    r1 = x["htf_15min_ret_1"]
    assert r1.iloc[:45].isna().all()  # bucket 3 is the first with two usable completed buckets before it
    # closes of buckets 2 and 1, seen from bucket 3 on
    np.testing.assert_allclose(r1.iloc[45:], math.log(144.0 / 129.0), rtol=1e-12)
    body = x["htf_15min_body"]
    assert body.iloc[:30].isna().all()
    # bucket 1: open 114.5, high 130, low 114, close 129, seen in bucket 2
    np.testing.assert_allclose(body.iloc[30:45], (129.0 - 114.5) / (130.0 - 114.0), rtol=1e-12)


def test_kernels_do_not_depend_on_later_missing_values():
    """A NaN arriving later (a bad tick) must not alter a single bit of earlier outputs."""
    rng = np.random.default_rng(5)
    x = 4000 + np.cumsum(rng.normal(size=2000))
    y = x.copy()
    y[1500] = np.nan
    y[1900] = np.inf
    kernels = (
        lambda a: ro.rolling_mean_std(a, 30, 1),
        lambda a: ro.rolling_linreg(a, 30),
        lambda a: (ro.rolling_max(a, 30), ro.rolling_sum(a, 7)),
        lambda a: ro.rolling_cov_corr(a, ro.lag(a, 3), 9),
    )
    for fn in kernels:
        for u, v in zip(fn(x), fn(y)):
            np.testing.assert_array_equal(u[:1500], v[:1500])
    m = ro.rolling_mean(y, 30)
    assert np.isnan(m[1500:1530]).all() and np.isfinite(m[1530:1900]).all()


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(5, 300),
    w=st.integers(1, 40),
    cut=st.floats(0.0, 1.0),
    seed=st.integers(0, 10_000),
    nan_rate=st.sampled_from([0.0, 0.05]),
)
def test_kernels_are_causal_property(n, w, cut, seed, nan_rate):
    """Every window kernel: outputs up to t are bit-identical after replacing the inputs after t."""
    rng = np.random.default_rng(seed)
    x = 100 + np.cumsum(rng.normal(size=n))
    x[rng.random(n) < nan_rate] = np.nan
    t = int(cut * (n - 1))
    y = x.copy()
    y[t + 1 :] = rng.normal(size=n - t - 1) * 50
    for fn in (
        lambda a: [ro.rolling_sum(a, w), ro.rolling_mean(a, w), ro.rolling_max(a, w), ro.rolling_min(a, w)],
        lambda a: list(ro.rolling_mean_std(a, w, 0)),
        lambda a: list(ro.rolling_linreg(a, w)) if w > 1 else [],
        lambda a: list(ro.rolling_cov_corr(a, ro.lag(a, 1), w)) if w > 1 else [],
        lambda a: [ro.ewm_window(a, 0.2, w), sign_entropy(ro.diff(a, 1), w)],
    ):
        for u, v in zip(fn(x), fn(y)):
            np.testing.assert_array_equal(u[: t + 1], v[: t + 1])


def test_fused_recursions_equal_the_general_path_and_fall_back_on_bad_bars():
    """ATR, RSI, ADX and MACD run as one fused pass on finite bars; a NaN anywhere sends them through the
    general windowed path, which blanks exactly the windows holding it. Both paths give the same numbers."""
    from factory.features import indicators as ind

    rng = np.random.default_rng(9)
    c = 4000 + np.cumsum(rng.normal(size=3000))
    h, lo = c + rng.random(3000), c - rng.random(3000)
    calls = {
        "atr": lambda a, b, x: ind.atr(a, b, x, 14),
        "rsi": lambda a, b, x: ind.rsi(x, 14),
        "adx": lambda a, b, x: ind.adx(a, b, x, 14),
        "macd": lambda a, b, x: ind.macd(x, 12, 26, 9),
    }
    for name, fn in calls.items():
        fused = fn(h, lo, c)
        bad_c = c.copy()
        bad_c[2000] = np.nan
        general = fn(h, lo, bad_c)
        for u, v in zip(*(x if isinstance(x, tuple) else (x,) for x in (fused, general))):
            np.testing.assert_allclose(v[:2000], u[:2000], rtol=1e-12, atol=1e-10, err_msg=name)
            assert np.isnan(v[2000:2002]).any(), name  # ATR reads the close at t only through the next bar
            later = np.flatnonzero(np.isfinite(v[2001:]))
            assert later.size and np.allclose(v[2001 + later[0]:], u[2001 + later[0]:], rtol=1e-9, atol=1e-8), name
    bad_first = h.copy()
    bad_first[0] = np.nan  # the first bar only enters comparisons inside the kernels: still detected
    w = ind.wilder_window(14)
    pdi = ind.adx(bad_first, lo, c, 14)[1]
    assert np.isnan(pdi[: w + 1]).all() and np.isfinite(pdi[w + 1:]).all()  # its windows, and only those
