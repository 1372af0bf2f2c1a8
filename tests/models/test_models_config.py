"""Per-model YAML settings: defaults load, overrides merge, unknown keys fail naming model and file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from factory.errors import ConfigError
from factory.models import create_model, get_model_class, list_models, load_model_config
from factory.models.config import MODELS_CONFIG_DIR, create_model_from_config

KEYS = ["lightgbm", "logistic", "stacking", "voting", "xgboost"]


@pytest.mark.parametrize("key", KEYS)
def test_every_model_has_a_yaml_that_validates(key):
    path = MODELS_CONFIG_DIR / f"{key}.yaml"
    assert path.is_file()
    cfg = load_model_config(key)
    assert isinstance(cfg, get_model_class(key).Config)
    # every key written in the file is a real setting and ends up in the typed config
    raw = yaml.safe_load(path.read_text())
    assert raw.items() <= cfg.model_dump(mode="json").items()


def test_overrides_file_flat_and_sectioned(tmp_path: Path):
    flat = tmp_path / "flat.yaml"
    flat.write_text("num_leaves: 7\n")
    assert load_model_config("lightgbm", flat).num_leaves == 7
    sectioned = tmp_path / "many.yaml"
    sectioned.write_text("models:\n  lightgbm: {num_leaves: 9}\n  xgboost: {max_depth: 2}\n")
    assert load_model_config("lightgbm", sectioned).num_leaves == 9
    assert load_model_config("xgboost", sectioned).max_depth == 2
    assert load_model_config("logistic", sectioned).C == 1.0
    model = create_model_from_config("xgboost", sectioned, overrides={"n_estimators": 3})
    assert model.config.max_depth == 2 and model.config.n_estimators == 3


def test_unknown_key_names_model_key_and_file(tmp_path: Path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("num_leafs: 7\n")
    with pytest.raises(ConfigError, match=r"model 'lightgbm' \(mine.yaml\)\.num_leafs: unknown key"):
        load_model_config("lightgbm", bad)
    bad.write_text("class_weight: sometimes\n")
    with pytest.raises(ConfigError, match="class_weight"):
        load_model_config("xgboost", bad)


def test_broken_default_file_is_named(tmp_path: Path):
    (tmp_path / "logistic.yaml").write_text("C: 1.0\npenalty: l1\n")
    with pytest.raises(ConfigError, match=r"logistic.yaml\)\.penalty: unknown key"):
        load_model_config("logistic", config_dir=tmp_path)


def test_ensemble_member_settings_are_checked_at_construction():
    with pytest.raises(ConfigError, match="member_params.lightgbm.num_leafs: unknown key"):
        create_model("voting", member_params={"lightgbm": {"num_leafs": 3}})
    with pytest.raises(ConfigError, match="not members"):
        create_model("voting", members=["logistic"], member_params={"xgboost": {}})
    with pytest.raises(ConfigError, match="unknown model 'catboost'"):
        create_model("stacking", members=["catboost"])
    with pytest.raises(ConfigError, match="repeat"):
        create_model("voting", members=["logistic", "logistic"])


def test_all_registered_models_build_from_their_config():
    for key in list_models():
        model = create_model(key, **load_model_config(key).model_dump(mode="json"))
        assert model.get_params() == load_model_config(key).model_dump(mode="json")


def test_profiles_select_a_set_of_settings(tmp_path):
    """A deep model's YAML ships a cpu default and the published settings as `full`; one line picks one."""
    from factory.errors import ConfigError
    from factory.models import load_model_config

    cpu = load_model_config("tcn")
    full = load_model_config("tcn", overrides={"profile": "full"})
    assert (cpu.window, cpu.levels) == (32, 4) and (full.window, full.levels) == (128, 6)
    f = tmp_path / "over.yaml"
    f.write_text("models: {tcn: {profile: full, channels: 16}}\n")
    over = load_model_config("tcn", overrides_file=f)
    assert over.window == 128 and over.channels == 16  # file < profile < the caller's own settings
    with pytest.raises(ConfigError, match="unknown profile 'huge'; profiles: cpu, full"):
        load_model_config("tcn", overrides={"profile": "huge"})
