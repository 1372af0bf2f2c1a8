"""Daemon settings: defaults file, override file, flags; exactly one window kind; unknown keys and methods refused."""

from __future__ import annotations

import pytest

from factory.errors import ConfigError
from monitoring.config import load_monitor_config, parse_duration


def test_defaults_are_the_measured_ones():
    cfg = load_monitor_config()
    assert cfg.drift.method == "wasserstein" and cfg.drift.column_threshold == 0.75
    assert cfg.drift.share_threshold == 0.15 and "year_sin" in cfg.drift.exclude_columns
    assert cfg.window.rows == 5000 and cfg.window.time is None
    assert cfg.experiment == "factory-monitoring"
    assert cfg.webhook.max_pending == 1000 and cfg.webhook.drain_timeout_s == 30 and cfg.webhook.max_backoff_s == 300


def test_a_time_window_flag_replaces_the_default_row_count(tmp_path):
    cfg = load_monitor_config(overrides={"window": {"rows": None, "time": "1h"}})
    assert cfg.window.rows is None and cfg.window.duration == parse_duration("1h")
    f = tmp_path / "m.yaml"
    f.write_text("monitoring:\n  window: {min_rows: 10}\n  drift: {share_threshold: 0.3}\n")
    cfg = load_monitor_config(f, {"window": {"rows": 50}, "drift": {"share_threshold": None}})
    assert cfg.window.rows == 50 and cfg.window.min_rows == 10 and cfg.drift.share_threshold == 0.3


@pytest.mark.parametrize("over, match", [
    ({"window": {"rows": 100, "time": "1h"}}, "exactly one"),
    ({"window": {"time": "soon"}}, "not a duration"),
    ({"drift": {"method": "magic"}}, "unknown method"),
    ({"colour": "red"}, "unknown key"),
    ({"webhook": {"url": "ftp://x"}}, "http"),
    ({"webhook": {"max_pending": 0}}, "webhook.max_pending: Input should be greater than or equal to 1"),
    ({"webhook": {"queue_size": 5}}, "unknown key"),
])
def test_bad_settings_are_one_readable_error(over, match):
    if "window" in over and "rows" in over["window"] and "time" in over["window"]:
        # Both kinds at once can only come from a file: flags are mutually exclusive.
        from monitoring.config import MonitorConfig

        with pytest.raises(ConfigError, match=match):
            MonitorConfig.from_dict(over)
        return
    with pytest.raises(ConfigError, match=match):
        load_monitor_config(overrides=over)
