"""The calibrated drift threshold: held-out null sample, the null of the drift share, its cache, its warnings.

Data: :func:`monitoring_helpers.regime_series`, autocorrelated columns in hidden volatility regimes. A training
period of it gives the reference and the held-out null sample (the packaging function the train step uses); a
fresh realisation of the same process plays in-distribution served inputs. Live windows are scored with
:func:`monitoring.drift.column_scores`, which ``test_column_scores_are_evidentlys`` shows equal to the daemon's
Evidently check, so hundreds of windows stay cheap.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pandas as pd
import pytest
from monitoring_helpers import FEATURES, monitor_config, regime_series, register_model, write_log

from factory.packaging.reference import reference_and_null
from monitoring import calibration
from monitoring.calibration import null_shares, quantile_level, share_threshold
from monitoring.config import DriftConfig
from monitoring.daemon import DriftMonitor
from monitoring.drift import check_drift, column_scores, drifted
from monitoring.reference import ModelReference

NAME = "mes-calib"
URI = f"models:/{NAME}@champion"
SETTINGS = DriftConfig()


def _training(n: int, seed: int, null_rows: int, segments: int):
    """(reference, null sample) of ``n`` training-period rows, as the train step logs them."""
    frame = regime_series(n, seed)
    stamps = pd.Series(pd.date_range("2025-01-01", periods=n, freq="min", tz="UTC"))
    return reference_and_null(frame, stamps, np.arange(n), 5_000, null_rows, segments)


def _shares(reference, live: pd.DataFrame, rows: int) -> np.ndarray:
    """Drift share of every complete ``rows``-row window of ``live``."""
    out = []
    for lo in range(0, len(live) - rows + 1, rows):
        scores = column_scores(reference, live.iloc[lo:lo + rows], FEATURES, SETTINGS)
        out.append(len(drifted(scores, SETTINGS)) / len(FEATURES))
    return np.asarray(out)


def _false_alarms(rows: int, live_windows: int, null_rows: int, seed: int = 11) -> dict[str, tuple[float, float]]:
    """Share of in-distribution windows above the null's level -> (rate, level), for the null from contiguous
    blocks and for one from shuffled rows (drawn from all over the held-out period, as resampling them would)."""
    reference, null = _training(int(null_rows * 2.5), seed, null_rows, 10)
    shuffled = null.drop(columns="segment").sample(frac=1.0, random_state=0).reset_index(drop=True)
    live = _shares(reference, regime_series(rows * live_windows, seed + 1000), rows)
    assert len(live) == live_windows
    out = {"fixed": (float(np.mean(live > SETTINGS.share_threshold)), SETTINGS.share_threshold)}
    for kind, sample in (("blocks", null), ("shuffled", shuffled)):
        level = quantile_level(null_shares(reference, sample, FEATURES, SETTINGS, rows, 200), 0.99)
        out[kind] = (float(np.mean(live > level)), level)
    return out


# ------------------------------------------------------------------------------------------------ packaging
def test_null_sample_is_contiguous_held_out_training_rows():
    n = 20_000
    frame = pd.DataFrame({"f0": np.arange(n, dtype=float)})
    stamps = pd.Series(pd.date_range("2025-01-01", periods=n, freq="min", tz="UTC"))
    reference, null = reference_and_null(frame, stamps, np.arange(n), 1_000, null_rows=6_000, segments=3)
    assert len(reference) == 1_000 and len(null) == 6_000
    assert set(reference["timestamp"]).isdisjoint(set(null["timestamp"]))
    assert list(null.columns) == ["timestamp", "segment", "f0"]
    for _, seg in null.groupby("segment"):
        assert len(seg) == 2_000 and np.all(np.diff(seg["f0"].to_numpy()) == 1)  # contiguous, in time order
    # Spread over the period (each stretch in its own third), and the reference still spans all of it.
    assert [int(s["f0"].iloc[0]) // (n // 3) for _, s in null.groupby("segment")] == [0, 1, 2]
    assert reference["f0"].min() == 0 and reference["f0"].max() == n - 1
    # The reference keeps its size first; too few rows left over, or none asked for: no null sample.
    small_ref, small_null = reference_and_null(frame, stamps, np.arange(1_600), 1_000, null_rows=6_000, segments=3)
    assert len(small_ref) == 1_000 and len(small_null) == 600
    assert reference_and_null(frame, stamps, np.arange(n), 1_000, null_rows=0)[1] is None
    assert reference_and_null(frame, stamps, np.arange(1_002), 1_000, segments=3)[1] is None


# ------------------------------------------------------------------------------------------------ statistic
@pytest.mark.parametrize("method,threshold", [("wasserstein", 0.75), ("ks", 0.05), ("psi", 0.1)])
def test_column_scores_are_evidentlys(method, threshold):
    """The null's per-column scores equal the live check's (same Evidently stattest), missing values included."""
    reference = regime_series(3_000, 1)
    window = regime_series(300, 2, vol_scale=1.5).astype("float64")
    window.iloc[::7, 2] = np.nan
    window.iloc[3, 4] = np.inf
    settings = DriftConfig(method=method, column_threshold=threshold)
    live = check_drift(reference, window, FEATURES, settings)
    fast = column_scores(reference, window, FEATURES, settings)
    assert fast == pytest.approx(live.scores, rel=1e-9, abs=1e-12)
    assert drifted(fast, settings) == live.drifted_columns


def test_quantile_level_is_the_conformal_order_statistic():
    shares = np.arange(200) / 200
    assert quantile_level(shares, 0.99) == shares[198]  # ceil(201 * 0.99) = 199th smallest
    assert quantile_level(shares[:50], 0.99) == shares[49]  # beyond the blocks: their maximum
    assert quantile_level(shares, 0.9) == shares[180]


# ------------------------------------------------------------------------------------------------ false alarms
def test_false_alarms_at_200_rows_and_shuffled_null_breaks_them():
    """Contiguous blocks hold in-distribution 200-row windows to <= 1% alerts where the fixed 15% alerts on most;
    a null from shuffled rows (each block mixing every regime) understates the null and alerts on most too."""
    found = _false_alarms(200, 1_000, null_rows=60_000)
    rate, level = found["blocks"]
    assert rate <= 0.01 and level < 1.0, found
    assert found["fixed"][0] > 0.5, found
    assert found["shuffled"][1] < level and found["shuffled"][0] > 0.2, found


@pytest.mark.slow
@pytest.mark.parametrize("rows,live_windows", [(200, 3_000), (1_000, 1_500), (5_000, 400)])
def test_false_alarms_by_window_size(rows, live_windows):
    """<= 1% alerts on in-distribution windows; the null sample holds 300 disjoint windows of the size."""
    found = _false_alarms(rows, live_windows, null_rows=300 * rows)
    print(rows, found)
    assert found["blocks"][0] <= 0.01, found


def test_volatility_x4_is_caught_at_1000_rows():
    reference, null = _training(150_000, 5, 60_000, 6)
    level = quantile_level(null_shares(reference, null, FEATURES, SETTINGS, 1_000, 200), 0.99)
    assert level < 1.0
    shifted = _shares(reference, regime_series(20_000, 6, vol_scale=4.0), 1_000)
    assert np.mean(shifted > level) >= 0.95, (level, shifted)
    window = regime_series(1_000, 7, vol_scale=4.0)
    assert check_drift(reference, window, FEATURES, SETTINGS, share_threshold=level).drift


# ------------------------------------------------------------------------------------------------ warnings
def _ref(reference, null, version="1"):
    return ModelReference(NAME, version, f"models:/{NAME}/{version}", None, list(FEATURES), reference, null)


def test_too_small_window_warns_with_the_smallest_useful_size(tmp_path, caplog):
    reference, null = _training(100_000, 3, 40_000, 4)
    config = monitor_config(tmp_path, window={"rows": 10})
    with caplog.at_level(logging.WARNING, logger="monitoring.calibration"):
        t = share_threshold(_ref(reference, null), config)
    assert t.mode == "calibrated" and t.level > calibration.WEAK_LEVEL
    assert "window of 10 rows is too small for a shift to be seen" in caplog.text
    assert t.min_useful_rows is not None and t.min_useful_rows > 10
    assert f"use windows of at least ~{t.min_useful_rows} rows" in caplog.text
    # That size is indeed useful: its null leaves room above it.
    bigger = share_threshold(_ref(reference, null), monitor_config(tmp_path, window={"rows": t.min_useful_rows}))
    assert bigger.level <= calibration.WEAK_LEVEL


def test_no_null_sample_or_fixed_mode_uses_the_fixed_threshold(tmp_path, caplog):
    reference, null = _training(20_000, 3, 4_000, 2)
    with caplog.at_level(logging.WARNING, logger="monitoring.calibration"):
        t = share_threshold(_ref(reference, None), monitor_config(tmp_path))
    assert (t.mode, t.threshold) == ("fixed", 0.15) and "without a held-out null sample" in caplog.text
    fixed = share_threshold(_ref(reference, null), monitor_config(tmp_path, drift={"threshold_mode": "fixed"}))
    assert (fixed.mode, fixed.threshold, fixed.alert_fields()["null_level"]) == ("fixed", 0.15, None)
    # Windows longer than any held-out stretch cannot be calibrated: said, and fixed.
    long = share_threshold(_ref(reference, null), monitor_config(tmp_path, window={"rows": 5_000}))
    assert long.mode == "fixed" and "no stretch of 5000 rows (longest 2000)" in long.note
    assert not (tmp_path / "state" / "null").exists()
    # Held-out rows with few disjoint windows of the size: calibrated, with a warning that it is a rough estimate.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="monitoring.calibration"):
        rough = share_threshold(_ref(reference, null), monitor_config(tmp_path))
    assert rough.mode == "calibrated" and rough.disjoint_windows == 20
    assert "holds only 20 disjoint windows of 200 rows, fewer than the 100 a q0.99 needs" in caplog.text
    assert "at least 20000)" in caplog.text
    # Time windows are calibrated for their fewest checked rows.
    timed = monitor_config(tmp_path, window={"rows": None, "time": "1h", "min_rows": 300})
    assert calibration.window_rows_of(timed) == 300 and share_threshold(_ref(reference, null), timed).window_rows == 300


def test_config_rejects_bad_calibration_settings(tmp_path):
    from factory.errors import ConfigError

    with pytest.raises(ConfigError, match="threshold_mode"):
        monitor_config(tmp_path, drift={"threshold_mode": "auto"})
    with pytest.raises(ConfigError, match="null_quantile"):
        monitor_config(tmp_path, drift={"null_quantile": 1.0})


# ------------------------------------------------------------------------------------------------ daemon
def test_daemon_alerts_above_the_null_and_reuses_its_cache(registry, monkeypatch):
    client, tmp = registry
    reference, null = _training(100_000, 21, 40_000, 4)
    version = register_model(client, tmp / "m1", NAME, reference, null_sample=null)
    calm = regime_series(1_000, 22)
    shifted = regime_series(200, 23, vol_scale=4.0)
    write_log(tmp / "log", NAME, pd.concat([calm, shifted], ignore_index=True), [50])
    computed = []
    real = calibration.null_shares
    # Counts the null computations of the configured block count (the small-window probe uses fewer blocks).
    monkeypatch.setattr(calibration, "null_shares",
                        lambda *a, **k: (computed.append(a[4]) if a[5] == 200 else None) or real(*a, **k))

    config = monitor_config(tmp)  # 200-row windows, calibrated by default
    monitor = DriftMonitor(config, [URI], tmp / "log")
    assert monitor.run(once=True)
    t = monitor.watches[0].threshold
    assert computed == [200] and t.mode == "calibrated" and not t.from_cache and t.blocks == 200
    alerts = [json.loads(x) for x in (tmp / "alerts.jsonl").read_text().splitlines()]
    assert [a["window_index"] for a in alerts] == [5]  # the 5 calm windows stay quiet; the x4 one alerts
    a = alerts[0]
    assert a["threshold_mode"] == "calibrated" and a["null_quantile"] == 0.99 and a["null_blocks"] == 200
    assert a["threshold"] == a["null_level"] == t.level and a["drift_share"] > a["threshold"]
    assert a["null_window_rows"] == 200 and a["model_version"] == version
    cache = list((tmp / "state" / "null").glob("*.json"))
    assert len(cache) == 1 and f"v{version}-200rows-wasserstein-" in cache[0].name
    assert json.loads(cache[0].read_text())["shares"] and len(json.loads(cache[0].read_text())["shares"]) == 200
    stamp = cache[0].stat().st_mtime_ns

    # Restart: the null is read back, not computed again.
    restarted = DriftMonitor(monitor_config(tmp), [URI], tmp / "log")
    t0 = time.perf_counter()
    assert restarted.run(once=True)
    again = restarted.watches[0].threshold
    assert computed == [200] and again.from_cache and again.level == t.level
    assert cache[0].stat().st_mtime_ns == stamp and again.seconds < max(t.seconds, 0.05)
    assert time.perf_counter() - t0 < 30
    # A setting the shares depend on makes another cache entry.
    other = DriftMonitor(monitor_config(tmp, drift={"column_threshold": 0.9}), [URI], tmp / "log")
    assert other.run(once=True) and computed == [200, 200]
    assert len(list((tmp / "state" / "null").glob("*.json"))) == 2

    # The same windows under the fixed 15% alert on calm windows too: what the calibration removes.
    fixed = DriftMonitor(monitor_config(tmp, drift={"threshold_mode": "fixed"}, jsonl=str(tmp / "fixed.jsonl"),
                                        state_dir=str(tmp / "fixed-state"), reports="none"), [URI], tmp / "log")
    assert fixed.run(once=True)
    fixed_alerts = [json.loads(x) for x in (tmp / "fixed.jsonl").read_text().splitlines()]
    assert len(fixed_alerts) >= 3 and fixed_alerts[0]["threshold"] == 0.15
    assert fixed_alerts[0]["threshold_mode"] == "fixed" and fixed_alerts[0]["null_level"] is None
