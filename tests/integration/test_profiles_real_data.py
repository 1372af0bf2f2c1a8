"""Real daily and hourly files (and 5-minute bars) train with no config file: the bars' interval picks the profile.

Only what is a property of the data itself is passed: the time zone of the files' naive timestamps
(``--tz UTC``) and, for EURUSD, the instrument whose costs apply (``--contract M6E``: with MES costs every
EURUSD label is flat, a 0.25-point tick being a quarter of the whole price).
"""

import mlflow
import pytest

from factory.cli import main

from real_data_helpers import backtesting_csv, to_factory_csv

CASES = [
    # file, extra flags, profile, median interval as printed
    ("GOOG.csv", [], "1d", "1 day"),
    ("EURUSD.csv", ["--contract", "M6E"], "1h", "1 hour"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, flags, profile, interval", CASES)
def test_factory_train_on_a_real_file_needs_no_config(tracking_uri, tmp_path, capsys, name, flags, profile,
                                                       interval):
    path = to_factory_csv(backtesting_csv(name), tmp_path / name)
    assert main(["train", "--model", "lightgbm", "--data", str(path), "--tz", "UTC", "--quiet", *flags]) == 0
    out = capsys.readouterr().out
    assert f"profile: {profile} (median bar interval {interval})" in out
    run = mlflow.MlflowClient().get_run(out.split("run_id:")[1].split()[0])
    p = run.data.params
    assert p["pipeline.profile"] == profile and p["pipeline.profile_source"] == "auto"
    assert run.data.tags["pipeline.profile"] == profile
    assert p["data.median_bar_interval"] == interval
    assert run.data.metrics["n_val"] > 50 and run.data.metrics["n_test"] > 50


@pytest.mark.parametrize("name, flags, profile, interval", CASES)
def test_factory_pipeline_on_a_real_file_picks_the_profile(tracking_uri, tmp_path, capsys, name, flags, profile,
                                                           interval):
    path = to_factory_csv(backtesting_csv(name), tmp_path / name)
    assert main(["pipeline", "--data", str(path), "--tz", "UTC", "--quiet", *flags]) == 0
    out = capsys.readouterr().out
    assert f"profile: {profile} (median bar interval {interval})" in out
    run = mlflow.MlflowClient().get_run(out.split("run_id:")[1].split()[0])
    assert run.data.params["pipeline.profile"] == profile
    # the run's resolved settings are the profile's
    assert run.data.params["split.embargo_bars"] == {"1d": "210", "1h": "400"}[profile]


def test_the_profile_flag_overrides_the_choice_and_a_wrong_one_fails_before_any_run(tracking_uri, tmp_path,
                                                                                    capsys):
    path = to_factory_csv(backtesting_csv("GOOG.csv"), tmp_path / "GOOG.csv")
    # the 1-minute profile on 2,148 daily bars: the pipeline's minimum length is named, nothing is logged
    assert main(["pipeline", "--data", str(path), "--tz", "UTC", "--quiet", "--profile", "1min"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: [min_bars]")
    assert not mlflow.search_runs(search_all_experiments=True, output_format="list")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("profile: weekly\n")
    assert main(["pipeline", "--data", str(path), "--tz", "UTC", "--quiet", "--config", str(cfg)]) == 2
    assert "known profiles: 1min, 5min, 1h, 1d" in capsys.readouterr().err


def test_data_validate_checks_the_minimum_length_of_the_files_profile(tmp_path, capsys):
    from factory.config import resolve_config
    from factory.dataset import pipeline_min_bars

    path = to_factory_csv(backtesting_csv("GOOG.csv"), tmp_path / "GOOG.csv")
    assert main(["data", "validate", str(path), "--tz", "UTC"]) == 0
    out = capsys.readouterr().out
    need = pipeline_min_bars(resolve_config(profile="1d"))
    assert "profile: 1d (median bar interval 1 day)" in out and f"at least {need:,} bars" in out
    # the 1-minute defaults would need more bars than the file has
    assert main(["data", "validate", str(path), "--tz", "UTC", "--profile", "1min"]) == 2
    assert "[min_bars]" in capsys.readouterr().err


def test_five_minute_bars_build_on_the_5min_profile(tracking_uri, tmp_path, capsys):
    """Synthetic 1-minute bars resampled to 12,000 5-minute bars (too few for the 1-minute defaults)."""
    from factory.data.io import write_bars
    from factory.data.resample import resample_bars
    from factory.data.synth import generate_bars

    path = tmp_path / "bars5.parquet"
    write_bars(resample_bars(generate_bars(60_000, seed=2), "5min"), path)
    assert main(["pipeline", "--data", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "profile: 5min (median bar interval 5 minutes)" in out
    run = mlflow.MlflowClient().get_run(out.split("run_id:")[1].split()[0])
    assert run.data.params["features.bar_freq"] == "5min" and run.data.params["split.embargo_bars"] == "1000"
    assert run.data.metrics["n_val"] > 500 and run.data.metrics["n_test"] > 500
