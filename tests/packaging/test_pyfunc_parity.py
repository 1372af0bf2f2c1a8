"""Served predictions equal offline ones: native bundle == reloaded bundle == loaded pyfunc, for every model key.

Also: the pyfunc computes the dataset's features exactly, reproduces the training evaluation, and is causal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from packaging_setup import MODEL_KEYS

from factory.packaging import OUTPUT_COLUMNS, ModelBundle, compute_model_inputs


def _same_up_to_rounding(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal up to float rounding: BLAS may round a 1-row product differently from a many-row one."""
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=1e-15)


def _iso(bars: pd.DataFrame) -> pd.DataFrame:
    """What a JSON client sends: ISO-8601 strings with an offset."""
    out = bars.reset_index(drop=True).copy()
    out["timestamp"] = [t.isoformat() for t in out["timestamp"]]
    return out


def test_model_inputs_equal_the_dataset_features(dataset):
    inputs = compute_model_inputs(dataset.bars, dataset.feature_pipeline, dataset.hmm)
    pd.testing.assert_frame_equal(inputs, dataset.features, check_exact=True)


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_native_reloaded_and_pyfunc_agree(key, fitted, saved, small_bars, tmp_path):
    bundle = fitted(key)
    _, pyfunc = saved(key)
    window = small_bars.iloc[-(bundle.min_bars + 300):].reset_index(drop=True)
    native = bundle.predict(window)
    bundle.save(tmp_path / "native")
    reloaded = ModelBundle.load(tmp_path / "native")
    pd.testing.assert_frame_equal(reloaded.predict(window), native, check_exact=True)
    pd.testing.assert_frame_equal(pyfunc.predict(_iso(window)), native, check_exact=True)
    assert len(native) == len(window) - bundle.warmup_bars


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_pyfunc_reproduces_the_training_evaluation(key, dataset, fitted, saved):
    from factory.fitting import evaluate_part, segment

    bundle = fitted(key)
    _, pyfunc = saved(key)
    served = pyfunc.predict(dataset.bars)
    rows = segment(dataset, "test")
    offline = evaluate_part(dataset, bundle, "test").outputs
    got = served.iloc[rows - bundle.warmup_bars].reset_index(drop=True)
    _same_up_to_rounding(got, offline.reset_index(drop=True))


def _probe_rows(dataset, lookback: int) -> list[int]:
    """Bars where a served request is most likely to differ from training: the first bars after the daily
    halt and after a weekend, both sides of every split boundary, and spread over the whole history."""
    ts = pd.DatetimeIndex(dataset.bars["timestamp"]).asi8
    after_gap = np.flatnonzero(np.diff(ts) > 60e9) + 1
    b = dataset.split.boundaries
    edges = [b.train_end - 1, b.train_end, b.val_start, b.val_end - 1, b.val_end, b.test_start, b.end - 1]
    rows = edges + [int(r) for g in (after_gap, after_gap + 1) for r in g[g > lookback][:3]]
    rows += list(np.linspace(lookback, len(dataset.bars) - 1, 8).astype(int))
    return sorted({r for r in rows if lookback <= r < len(dataset.bars)})


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_a_request_of_min_bars_reproduces_the_full_history(key, dataset, fitted, saved):
    """The served output at the last bar of a request holding exactly ``min_bars`` bars equals the output the
    full history gives at that bar: probabilities to 1e-9, and so the signal, at many bars (inside training, at
    the split edges, on the first bars after halts and weekends). This is what makes the backtest describe
    what is served."""
    bundle = fitted(key)
    _, pyfunc = saved(key)
    full = bundle.predict(dataset.bars)  # offline: one row per bar from the lookback on
    rows = _probe_rows(dataset, bundle.lookback)
    assert len(rows) >= 15
    probs = ["prob_down", "prob_flat", "prob_up"]
    for t in rows:
        request = _iso(dataset.bars.iloc[t - bundle.min_bars + 1: t + 1])
        served = pyfunc.predict(request, params={"last_only": True})
        offline = full.iloc[[t - bundle.lookback]].reset_index(drop=True)
        assert served["timestamp"].iloc[0] == offline["timestamp"].iloc[0]
        np.testing.assert_allclose(served[probs].to_numpy(), offline[probs].to_numpy(), rtol=0, atol=1e-9,
                                   err_msg=f"{key} at bar {t}")
        assert served["signal"].iloc[0] == offline["signal"].iloc[0]
        np.testing.assert_allclose(served[["expected_return", "ret_q05", "ret_q95"]].to_numpy(),
                                   offline[["expected_return", "ret_q05", "ret_q95"]].to_numpy(), atol=1e-9)
    with pytest.raises(Exception, match="min_bars"):
        pyfunc.predict(_iso(dataset.bars.iloc[-(bundle.min_bars - 1):]), params={"last_only": True})


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_outputs_up_to_t_ignore_later_bars(key, fitted, saved, small_bars):
    bundle = fitted(key)
    _, pyfunc = saved(key)
    window = small_bars.iloc[-(bundle.min_bars + 200):].reset_index(drop=True)
    t = len(window) - 80
    changed = window.copy()
    later = changed.index > t
    # A different but valid future: prices shifted up 3 %, volumes tripled.
    changed.loc[later, ["open", "high", "low", "close"]] *= 1.03
    changed.loc[later, "volume"] *= 3
    base = pyfunc.predict(window)
    moved = pyfunc.predict(changed)
    cut = window["timestamp"].iloc[t]
    keep = base["timestamp"] <= cut
    pd.testing.assert_frame_equal(moved[keep.to_numpy()], base[keep], check_exact=True)
    assert not moved[~keep.to_numpy()].equals(base[~keep])  # the change did reach the later rows
    truncated = pyfunc.predict(window.iloc[:t + 1])
    _same_up_to_rounding(truncated, base[keep].reset_index(drop=True))


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_output_contract(key, fitted, saved, small_bars):
    from factory.packaging.signal import signals

    bundle = fitted(key)
    _, pyfunc = saved(key)
    window = small_bars.iloc[-(bundle.min_bars + 500):].reset_index(drop=True)
    out = pyfunc.predict(window)
    assert list(out.columns) == OUTPUT_COLUMNS
    assert out["timestamp"].equals(window["timestamp"].iloc[bundle.warmup_bars:].reset_index(drop=True))
    p = out[["prob_down", "prob_flat", "prob_up"]].to_numpy()
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    assert out["signal"].dtype == np.int64 and set(out["signal"].unique()) <= {-1, 0, 1}
    q = out[["ret_q05", "ret_q50", "ret_q95"]].to_numpy()
    assert np.isfinite(q).all() and (np.diff(q, axis=1) >= 0).all()
    close = window["close"].to_numpy()[bundle.warmup_bars:]
    expect = signals(p, out["expected_return"].to_numpy(), close, bundle.cost_model.round_trip_points)
    np.testing.assert_array_equal(out["signal"].to_numpy(), expect)
    last = pyfunc.predict(window, params={"last_only": True})
    _same_up_to_rounding(last, out.iloc[[-1]].reset_index(drop=True))
