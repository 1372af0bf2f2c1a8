"""Registry: keys, tags, errors, lazy imports, loading by key, and the `factory models list` table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from factory.errors import ConfigError
from factory.models import FactoryModel, create_model, get_model_class, list_models, load_model, model_info
from factory.models import registry
from factory.models.cli_table import format_model_table
from factory.models.errors import ModelFileError, ModelRegistrationError, UnknownModelError
from factory.models.testing import make_toy_data

TABULAR = ["lightgbm", "logistic", "stacking", "voting", "xgboost"]


def test_list_and_info():
    assert set(TABULAR) <= set(list_models())
    assert list_models() == sorted(list_models())
    assert set(TABULAR) <= set(list_models(input_kind="tabular", needs_gpu=False))
    rows = {r["key"]: r for r in model_info()}
    assert rows["lightgbm"] == {"key": "lightgbm", "family": "boosting", "input_kind": "tabular",
                                "production_safe": True, "needs_gpu": False}
    assert rows["voting"]["family"] == rows["stacking"]["family"] == "ensemble"


def test_unknown_key_lists_known_keys():
    with pytest.raises(UnknownModelError, match="unknown model 'lightgbn'.*lightgbm.*xgboost") as exc:
        create_model("lightgbn")
    assert isinstance(exc.value, ConfigError)


def test_duplicate_and_invalid_registrations(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    with pytest.raises(ModelRegistrationError, match="already registered"):
        registry.register_model("lightgbm", family="boosting")(type("Other", (FactoryModel,), {}))
    with pytest.raises(ModelRegistrationError, match="input_kind"):
        registry.register_model("new_one", family="x", input_kind="image")(type("Other", (FactoryModel,), {}))
    with pytest.raises(ModelRegistrationError, match="lower-case"):
        registry.register_model("Bad-Key", family="x")(type("Other", (FactoryModel,), {}))
    with pytest.raises(ModelRegistrationError, match="FactoryModel"):
        registry.register_model("plain", family="x")(object)
    cls = registry.register_model("gpu_thing", family="deep", input_kind="window", needs_gpu=True)(
        type("GpuThing", (FactoryModel,), {}))
    assert get_model_class("gpu_thing") is cls and cls.needs_gpu and cls.input_kind == "window"
    assert "gpu_thing" in list_models(needs_gpu=True) and "gpu_thing" not in list_models(input_kind="tabular")


def test_importing_models_does_not_import_heavy_frameworks():
    code = ("import sys, factory.models as m; m.list_models(); "
            "print(sorted(k for k in ('xgboost', 'lightgbm', 'torch', 'mlflow') if k in sys.modules))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"


def test_load_dispatches_by_key_and_rejects_other_classes(tmp_path):
    X, y = make_toy_data(200, 4)
    create_model("logistic").fit(X, y).save(tmp_path / "m")
    assert type(load_model(tmp_path / "m")).__name__ == "LogisticModel"
    with pytest.raises(ModelFileError, match="'logistic' model, not 'lightgbm'"):
        get_model_class("lightgbm").load(tmp_path / "m")
    with pytest.raises(ModelFileError, match="missing"):
        load_model(tmp_path / "nothing")


def test_repr_shows_changed_settings():
    assert repr(create_model("logistic", C=0.1)) == "LogisticModel(C=0.1)"


def test_set_label_spans_checks_length():
    X, y = make_toy_data(100, 3)
    model = create_model("logistic").set_label_spans(np.arange(50), np.arange(50))
    from factory.models.errors import ModelInputError

    with pytest.raises(ModelInputError, match="one entry per training row"):
        model.fit(X, y)


def test_model_table():
    text = format_model_table()
    lines = text.splitlines()
    assert lines[0].split() == ["KEY", "FAMILY", "INPUT", "PRODUCTION", "GPU"]
    assert any(line.split()[:3] == ["xgboost", "boosting", "tabular"] for line in lines[1:])
    assert len(lines) == 1 + len(list_models())
    assert format_model_table([]) == "KEY  FAMILY  INPUT  PRODUCTION  GPU"
