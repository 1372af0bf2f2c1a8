"""Higher-time-frame (HTF) features built from completed higher bars only, over a fixed number of them.

Bars are grouped into buckets ``floor(timestamp, tf)`` (epoch-aligned, e.g. 15-minute or hourly buckets). A
bucket's OHLCV bar is open = first open, high = max high, low = min low, close = last close,
volume = sum. At a bar in bucket B the features use only buckets that *ended before B started*: the HTF
indicators are computed on the series of bucket bars, and each bar receives the value of the previous
non-empty bucket. Every bar of that bucket has a timestamp < start(B) <= t, so the value is final (no later
bar can change it) and it is constant across B - even when B is still incomplete, and whatever gaps
(halts, weekends) lie between buckets.

Bounded memory: every indicator reads at most the last W = ``htf_window`` completed buckets (its recursions,
Wilder's RSI and ATR of period P = ``htf_period`` and the EMA, are cut there and renormalised, see
:func:`factory.features.rolling.ewm_window`), plus the close before them. The first bucket of the data is never
used (it may have started before the data did), and a bucket holds at most m = ``tf / bar_freq`` bars (bars
closer together than ``bar_freq`` are an error), so the lookback is (max(W, 4) + 2) * m input bars. Per time
frame ``tf``:

* ``htf_{tf}_ret_1`` / ``htf_{tf}_ret_4``: log return of the last completed bucket / the last 4 buckets
* ``htf_{tf}_rsi``: Wilder RSI(P) of bucket closes over the last W changes
* ``htf_{tf}_range_pos``: (C - LL_W) / (HH_W - LL_W) over the last W buckets (0.5 without range)
* ``htf_{tf}_atr_norm``: ATR(P) of the bucket bars (last W true ranges) / C
* ``htf_{tf}_vol``: sample std of bucket log returns over W buckets
* ``htf_{tf}_ema_dist``: (C - EMA_W(C)) / ATR(P), the EMA over the last W closes
* ``htf_{tf}_body``: (C - O) / (H - L) of the last completed bucket (0 without range)
* ``htf_{tf}_volume_z``: z-score of ln(1 + V) over W buckets
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.errors import DataValidationError, Issue
from factory.features import indicators as ind
from factory.features import rolling as ro
from factory.features._context import BarContext
from factory.features.config import FeatureConfig

_FIELDS = ("ret_1", "ret_4", "rsi", "range_pos", "atr_norm", "vol", "ema_dist", "body", "volume_z")


def names(cfg: FeatureConfig) -> list[str]:
    return [f"htf_{tf}_{f}" for tf in cfg.higher_timeframes for f in _FIELDS]


def bars_per_bucket(cfg: FeatureConfig, tf: str) -> int:
    return cfg.bars_in(tf)


def bucket_lookback(cfg: FeatureConfig) -> int:
    """Buckets before a bucket that its features read (ret_4 needs 4, the windowed ones W and a close)."""
    return max(cfg.htf_window, 4)


def lookback(cfg: FeatureConfig) -> int:
    # A bar in bucket g reads buckets g-1-K .. g-1, K = bucket_lookback; bucket g-1-K must not be the data's
    # first bucket, so the last bar of bucket g-2-K is needed too: at most (K + 1) buckets, the bars of g
    # before t and that one bar, i.e. (K + 2) * m bars back.
    k = bucket_lookback(cfg)
    return max(((k + 2) * bars_per_bucket(cfg, tf) for tf in cfg.higher_timeframes), default=0)


def check_spacing(ctx: BarContext) -> None:
    """Bars closer together than ``bar_freq`` would put more than m bars in a bucket (and break the lookback)."""
    step = np.diff(ctx.ts_ns)
    close = step < pd.Timedelta(ctx.config.bar_freq).value
    if close.any():
        rows = tuple(int(r) + 1 for r in np.flatnonzero(close)[:5])
        raise DataValidationError([Issue(
            "spacing", "timestamp", rows,
            f"{int(close.sum())} bar(s) less than features.bar_freq={ctx.config.bar_freq} after the previous one; "
            "higher-time-frame features need bars at least bar_freq apart: set features.bar_freq to the data's "
            "spacing, or features.higher_timeframes: [] for bars that are not evenly timed (volume, dollar bars)")])


def bucket_bars(ctx: BarContext, tf: str):
    """(row -> bucket index, bucket open, high, low, close, volume) for time frame ``tf``.

    The first bucket's bar is NaN: the data may start inside it, so its OHLCV would depend on where they start.
    """
    key = ctx.ts_ns // pd.Timedelta(tf).value
    new = np.empty(ctx.n, dtype=bool)
    new[:1] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1:] = ctx.n - 1
    group = np.cumsum(new) - 1
    o = ctx.open[starts]
    h = np.maximum.reduceat(ctx.high, starts)
    lo = np.minimum.reduceat(ctx.low, starts)
    c = ctx.close[ends]
    v = np.add.reduceat(ctx.volume, starts)
    for a in (o, h, lo, c, v):
        a[:1] = np.nan
    return group, o, h, lo, c, v


def bucket_features(o, h, lo, c, v, cfg: FeatureConfig) -> dict[str, np.ndarray]:
    """The HTF indicators per bucket; the value at bucket k uses buckets k - bucket_lookback .. k only."""
    w, p = cfg.htf_window, cfg.htf_period
    lc = np.log(c)
    atr = np.maximum(ro.ewm_window(ind.true_range(h, lo, c), 1.0 / p, w), 1e-9 * c)
    hh = ro.rolling_max(h, w)
    ll = ro.rolling_min(lo, w)
    lv = np.log1p(v)
    mean, sd = ro.rolling_mean_std(lv, w, 1)
    return {
        "ret_1": ro.diff(lc, 1),
        "ret_4": ro.diff(lc, 4),
        "rsi": ind.rsi(c, p, window=w),
        "range_pos": ro.safe_div(c - ll, hh - ll, 0.5),
        "atr_norm": atr / c,
        "vol": ro.rolling_std(ro.diff(lc, 1), w, 1),
        "ema_dist": (c - ro.ewm_window(c, 2.0 / (w + 1.0), w)) / atr,
        "body": ro.safe_div(c - o, h - lo, 0.0),
        "volume_z": ro.safe_div(lv - mean, sd, 0.0),
    }


def compute(ctx: BarContext, put) -> None:
    cfg = ctx.config
    if cfg.higher_timeframes:
        check_spacing(ctx)
    for tf in cfg.higher_timeframes:
        group, o, h, lo, c, v = bucket_bars(ctx, tf)
        feats = bucket_features(o, h, lo, c, v, cfg)
        prev = group - 1  # the last bucket that ended before this bar's bucket started
        first = prev < 0
        prev[first] = 0
        for f in _FIELDS:
            vals = feats[f][prev]
            vals[first] = np.nan
            put(f"htf_{tf}_{f}", vals)
