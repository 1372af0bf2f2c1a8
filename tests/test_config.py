"""Typed configuration: defaults load, unknown keys and bad values are errors, overrides merge."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from factory.config import PIPELINE_FILE, PipelineConfig, load_pipeline_config
from factory.contracts import CostModel, get_contract, load_contracts
from factory.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_file_loads_and_matches_the_typed_defaults():
    cfg = load_pipeline_config()
    assert isinstance(cfg, PipelineConfig)
    assert cfg.contract == "MES"
    assert cfg.split.purge_bars == 60 and cfg.split.embargo_bars == 2000


def test_unknown_key_is_an_error_naming_the_key(tmp_path):
    f = tmp_path / "over.yaml"
    f.write_text("labels:\n  k_upp: 2.0\n")
    with pytest.raises(ConfigError, match=r"labels\.k_upp: unknown key"):
        load_pipeline_config(f)


def test_wrong_type_is_an_error(tmp_path):
    f = tmp_path / "over.yaml"
    f.write_text("split:\n  embargo_bars: many\n")
    with pytest.raises(ConfigError, match=r"split\.embargo_bars"):
        load_pipeline_config(f)


def test_fractions_must_leave_a_test_split():
    with pytest.raises(ConfigError, match="train_frac \\+ val_frac"):
        load_pipeline_config(overrides={"split": {"train_frac": 0.8, "val_frac": 0.2}})


def test_overrides_merge_deeply(tmp_path):
    f = tmp_path / "over.yaml"
    f.write_text("labels:\n  tuning:\n    n_trials: 3\n")
    cfg = load_pipeline_config(f, overrides={"split": {"embargo_bars": 500}})
    assert cfg.labels.tuning.n_trials == 3
    assert cfg.labels.k_up == load_pipeline_config().labels.k_up  # sibling keys keep their defaults
    assert cfg.split.embargo_bars == 500


def test_missing_and_malformed_config_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_pipeline_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("labels: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pipeline_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_pipeline_config(scalar)


def test_contracts_and_cost_model_arithmetic():
    contracts = load_contracts()
    assert {"MES", "MGC"} <= set(contracts)
    mes = get_contract("mes")
    assert mes.tick_size == 0.25 and mes.tick_value == 1.25 and mes.point_value == 5.0
    cm = mes.cost_model()
    # 2 x 0.62 commission + 2 x 1 tick x $1.25 slippage
    assert cm.round_trip_usd == pytest.approx(3.74)
    assert cm.round_trip_points == pytest.approx(3.74 / 5.0)
    # The documented example: $7.50 round trip with a $50 ATR is 0.15
    cm2 = CostModel(tick_size=0.25, tick_value=1.25, commission_per_side=1.25, slippage_ticks=1.0)
    assert cm2.round_trip_usd == pytest.approx(5.0)
    cm3 = CostModel(tick_size=0.25, tick_value=1.25, commission_per_side=2.5, slippage_ticks=1.0)
    assert cm3.round_trip_usd == pytest.approx(7.5)
    assert cm3.cost_in_atr(10.0) == pytest.approx(0.15)  # 10 points x $5 = $50 ATR
    assert cm3.cost_in_atr(0.0) == float("inf")
    with pytest.raises(ConfigError, match="unknown contract 'ZZZ'"):
        get_contract("ZZZ")


def _names(reqs):
    return {re.split(r"[<>=!\[ ]", r, maxsplit=1)[0].lower(): r.replace(" ", "") for r in reqs}


# Packages the conda environment takes from conda itself (its names), not from pip.
CONDA_NAMES = {"pytorch": "torch"}


def test_conda_env_matches_pyproject_dependencies():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    conda = yaml.safe_load((ROOT / "conda.yaml").read_text())
    pip_list = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    from_conda = [d for d in conda["dependencies"] if isinstance(d, str) and _names([d]).keys() & CONDA_NAMES.keys()]
    renamed = [CONDA_NAMES[next(iter(_names([d])))] + d[len(next(iter(_names([d])))):] for d in from_conda]
    assert _names(deps) == _names(pip_list + renamed)


def test_pipeline_yaml_is_the_documented_default_file():
    assert PIPELINE_FILE == ROOT / "mlproject" / "pipeline.yaml"
    assert PIPELINE_FILE.is_file()


def test_every_contract_names_a_known_session_calendar():
    from factory.data.sessions import calendar_for_contract

    for symbol in load_contracts():
        assert calendar_for_contract(symbol) is not None
