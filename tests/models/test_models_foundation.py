"""The pretrained forecasters (chronos_bolt, timesfm): barrier pricing of a known forecast, the labels' barriers,
missing weights, persistence, causality (tiny random weights built offline; the common checks run in
tests/contract and tests/packaging). A key whose library is not installed is skipped (tests/conftest.py)."""

from __future__ import annotations

import pytest

import foundation_checks as checks

KEYS = ["chronos_bolt", "timesfm"]
pytestmark = pytest.mark.parametrize("key", KEYS)


def test_probabilities_from_a_known_quantile_forecast(key, monkeypatch):
    checks.check_probabilities_from_a_known_forecast(key, monkeypatch)


def test_barriers_are_the_labels_barriers(key):
    checks.check_barriers_are_the_labels(key)


def test_missing_weights_are_a_clear_error_before_any_run(key, tmp_path, monkeypatch):
    checks.check_missing_weights(key, tmp_path, monkeypatch)


def test_save_load_round_trip_gives_equal_outputs(key, tmp_path):
    checks.check_save_load_round_trip(key, tmp_path)


def test_outputs_up_to_t_ignore_later_bars(key):
    checks.check_causality(key)


def test_batch_size_does_not_change_outputs(key):
    checks.check_batches_do_not_change_outputs(key)


def test_returns_come_from_the_forecast(key, monkeypatch):
    checks.check_returns_come_from_the_forecast(key, monkeypatch)
