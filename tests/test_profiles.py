"""Pipeline profiles per bar interval: the choice from the median interval, the layer order, the 1-minute identity."""

import pandas as pd
import pytest
import yaml

from factory.config import load_pipeline_config, resolve_config
from factory.dataset import pipeline_min_bars
from factory.errors import ConfigError
from factory.profiles import (
    PROFILE_INTERVALS, ProfileChoice, choose_profile, config_profile, median_interval, nearest_profile,
    profile_names, profile_overrides,
)


def _stamps(freq: str, n: int = 2000, business_days: bool = False) -> pd.DatetimeIndex:
    if business_days:  # weekdays only: every fifth step is a 3-day weekend gap
        return pd.bdate_range("2020-01-01", periods=n, tz="UTC")
    return pd.date_range("2020-01-01", periods=n, freq=freq, tz="UTC")


@pytest.mark.parametrize("freq, expected", [
    ("1min", "1min"), ("5min", "5min"), ("1h", "1h"), ("1D", "1d"),
    # odd intervals go to the nearest profile on a log scale (ratios): 30 min is 2x from 1h, 6x from 5min
    ("30min", "1h"), ("2min", "1min"), ("3min", "5min"), ("4h", "1h"), ("8h", "1d"), ("7D", "1d"),
    ("30s", "1min"),
])
def test_the_profile_is_the_nearest_to_the_median_interval(freq, expected):
    assert choose_profile(_stamps(freq)).name == expected


def test_weekend_gaps_do_not_move_the_choice_the_median_does_not_see_them():
    stamps = _stamps("1D", n=500, business_days=True)
    steps = pd.Series(stamps).diff().dropna()
    assert steps.mean() > pd.Timedelta("1D") * 1.3  # a mean would be dragged towards the weekly gaps
    choice = choose_profile(stamps)
    assert choice.median == pd.Timedelta("1D") and choice.name == "1d"
    assert choice.line() == "profile: 1d (median bar interval 1 day)"
    # hourly FX: 24 bars a day on weekdays, a 49-hour gap every weekend
    fx = pd.date_range("2021-01-04", periods=24 * 7 * 20, freq="1h", tz="UTC")
    fx = fx[fx.dayofweek < 5]
    assert choose_profile(fx).name == "1h"
    # 1-minute futures: daily halts and weekends
    mins = pd.date_range("2021-01-04", periods=60 * 24 * 10, freq="1min", tz="UTC")
    mins = mins[(mins.dayofweek < 5) & (mins.hour != 21)]
    assert choose_profile(mins).name == "1min"


def test_a_requested_profile_wins_and_says_so():
    choice = choose_profile(_stamps("1D"), "1h")
    assert choice.name == "1h" and choice.line() == "profile: 1h (set by --profile; median bar interval 1 day)"
    assert choose_profile(_stamps("1h"), "AUTO").name == "1h"


def test_an_unknown_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown pipeline profile '2h'; known profiles: 1min, 5min, 1h, 1d"):
        choose_profile(_stamps("1h"), "2h")
    with pytest.raises(ConfigError, match="known profiles"):
        resolve_config(profile="weekly")


def test_too_few_timestamps_cannot_choose_a_profile():
    assert median_interval(_stamps("1h", n=1)) is None
    with pytest.raises(ConfigError, match="--profile"):
        choose_profile(_stamps("1h", n=1))


def test_one_minute_data_resolves_to_exactly_the_old_defaults():
    defaults = load_pipeline_config()
    assert profile_overrides("1min") == {}
    choice = choose_profile(_stamps("1min"))
    assert choice.name == "1min"
    for profile in ("1min", choice):
        assert resolve_config(profile=profile).model_dump() == defaults.model_dump()
    # and those defaults are the shipped 1-minute settings
    f, s, lab = defaults.features, defaults.split, defaults.labels
    assert (s.embargo_bars, s.purge_bars, f.bar_freq, f.higher_timeframes) == (2000, 60, "1min", ("15min", "60min"))
    assert (lab.horizon, lab.tuning.horizon_range, f.windows) == (30, (5, 60), (10, 20, 60, 240))


@pytest.mark.parametrize("name, bars", [("5min", 20_000), ("1h", 5_000), ("1d", 2_000)])
def test_each_profile_fits_the_data_its_users_have(name, bars):
    """The pipeline's minimum length on each profile is below what a user of that interval typically has
    (20,000 5-minute bars: a year of regular hours; 5,000 hourly bars; 2,000 daily bars: 8 years), and the
    embargo covers the inputs' lookback plus a 64-row model window (the largest shipped default)."""
    from factory.features.pipeline import FeaturePipeline
    from factory.regimes import RegimeHMM

    cfg = resolve_config(profile=name)
    assert cfg.features.bar_freq.lower() == name.lower() or pd.Timedelta(cfg.features.bar_freq) == PROFILE_INTERVALS[name]
    assert all(pd.Timedelta(h) > PROFILE_INTERVALS[name] for h in cfg.features.higher_timeframes)
    assert pipeline_min_bars(cfg) <= bars
    warmup = max(FeaturePipeline(cfg.features).lookback_bars(), RegimeHMM(cfg.regimes).lookback)
    assert cfg.split.embargo_bars >= warmup + 63
    assert pipeline_min_bars(cfg) < pipeline_min_bars(load_pipeline_config())


def test_the_user_config_overrides_the_profile(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"profile": "1h", "split": {"embargo_bars": 500},
                                    "features": {"windows": [6, 12, 24, 96]}}))
    assert config_profile(str(path)) == "1h"
    cfg = resolve_config(config_file=str(path), profile="1h")
    assert cfg.split.embargo_bars == 500 and cfg.features.windows == (6, 12, 24, 96)
    assert cfg.features.higher_timeframes == ("4h", "1D")  # the rest from the profile
    # a train config's pipeline section carries it too
    train = tmp_path / "t.yaml"
    train.write_text(yaml.safe_dump({"pipeline": {"profile": "1d"}}))
    assert config_profile(str(train)) == "1d"
    bad = tmp_path / "b.yaml"
    bad.write_text(yaml.safe_dump({"profile": "daily"}))
    with pytest.raises(ConfigError, match="known profiles"):
        config_profile(str(bad))


def test_finer_bars_than_the_profile_lower_its_bar_freq():
    choice = choose_profile(_stamps("30min"))
    assert choice.name == "1h"
    cfg = resolve_config(profile=choice)
    assert pd.Timedelta(cfg.features.bar_freq) == pd.Timedelta("30min")
    # 4-hour bars keep the profile's 1h: bars farther apart than bar_freq are fine
    assert resolve_config(profile=choose_profile(_stamps("4h"))).features.bar_freq == "1h"


def test_profiles_set_only_sizing_sections_and_every_one_is_valid():
    for name in profile_names():
        assert set(profile_overrides(name)) <= {"features", "regimes", "labels", "split"}
        resolve_config(profile=name)
    assert ProfileChoice("1d", pd.Timedelta("1D")).overrides() == profile_overrides("1d")
    assert nearest_profile(pd.Timedelta("1D")) == "1d"


@pytest.mark.parametrize("entry, verb", [("pipeline", ["pipeline"]), ("train", ["train", "--model", "lightgbm"]),
                                         ("evaluate", ["evaluate"])])
def test_mlproject_entries_pass_the_profile_to_the_cli(entry, verb):
    """`-P profile=1d` reaches `--profile 1d` of the command; the default "" is dropped (auto)."""
    from pathlib import Path

    from entrypoints._params import drop_empty
    from factory.cli import build_parser

    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "MLproject").read_text())["entry_points"][entry]
    assert spec["parameters"]["profile"] == {"type": "string", "default": ""}
    assert "--profile {profile}" in spec["command"]
    parser = build_parser()
    assert parser.parse_args([*verb, *drop_empty(["--profile", "1d"])]).profile == "1d"
    assert parser.parse_args([*verb, *drop_empty(["--profile", ""])]).profile is None
    with pytest.raises(SystemExit):
        parser.parse_args([*verb, "--profile", "2h"])
