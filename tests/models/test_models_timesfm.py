"""The timesfm model: barrier pricing of a known forecast, the labels' barriers, missing weights, persistence,
causality (tiny random weights built offline; the common checks run in tests/contract and tests/packaging)."""

from __future__ import annotations

import pytest

pytest.importorskip("timesfm")

import foundation_checks as checks  # noqa: E402

KEY = "timesfm"


def test_probabilities_from_a_known_quantile_forecast(monkeypatch):
    checks.check_probabilities_from_a_known_forecast(KEY, monkeypatch)


def test_barriers_are_the_labels_barriers():
    checks.check_barriers_are_the_labels(KEY)


def test_missing_weights_are_a_clear_error_before_any_run(tmp_path, monkeypatch):
    checks.check_missing_weights(KEY, tmp_path, monkeypatch)


def test_save_load_round_trip_gives_equal_outputs(tmp_path):
    checks.check_save_load_round_trip(KEY, tmp_path)


def test_outputs_up_to_t_ignore_later_bars():
    checks.check_causality(KEY)


def test_batch_size_does_not_change_outputs():
    checks.check_batches_do_not_change_outputs(KEY)


def test_returns_come_from_the_forecast(monkeypatch):
    checks.check_returns_come_from_the_forecast(KEY, monkeypatch)
