"""MLproject entry points drop the empty parameters MLflow passes for unset defaults."""

from entrypoints._params import drop_empty


def test_empty_values_are_dropped_and_order_kept():
    argv = ["--data", "", "--contract", "MES", "--config", "", "--tz", "America/Chicago"]
    assert drop_empty(argv) == ["--contract", "MES", "--tz", "America/Chicago"]


def test_a_trailing_flag_without_value_is_dropped():
    assert drop_empty(["--model", "tcn", "--registered-name"]) == ["--model", "tcn"]
