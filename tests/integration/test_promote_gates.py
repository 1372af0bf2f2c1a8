"""Promotion: gates from config, alias -> stage mirroring, archiving the previous holder, description tables.

Versions are created directly in a temporary SQLite registry with the tags the train step writes, so the numbers
the gates see are chosen by each test.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from factory.errors import FactoryError
from factory.packaging.registry import RegistryError, resolve_model_uri
from factory.jobs.promote import PromotionRefused, load_promotion_config, promote

NAME = "mes-lightgbm"
WINDOW = {"data_sha256": "abc123", "test_start_row": "8000", "test_end_row": "10000",
          "test_start": "2024-01-10T00:00:00+00:00", "test_end": "2024-01-12T00:00:00+00:00"}

pytestmark = pytest.mark.integration


@pytest.fixture
def registry(tmp_path, monkeypatch):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    client.create_registered_model(NAME)
    (tmp_path / "model").mkdir()
    yield client, tmp_path
    mlflow.set_tracking_uri(None)


def _version(client, folder, sharpe: float, trades: int = 50, **extra) -> str:
    tags = {**WINDOW, "test_net_sharpe": repr(sharpe), "test_n_trades": str(trades), "test_win_rate": "0.55",
            "test_max_drawdown_usd": "120.5", "val_net_sharpe": "0.9", "test_log_loss": "1.01", **extra}
    return str(client.create_model_version(NAME, source=str(folder / "model"), tags=tags).version)


def _snapshot(client):
    out = []
    for v in sorted(client.search_model_versions(f"name = '{NAME}'"), key=lambda v: int(v.version)):
        out.append((v.version, v.current_stage, tuple(sorted(v.aliases)), v.description, tuple(sorted(v.tags.items()))))
    return out


def test_champion_gets_production_table_and_tags(registry):
    client, folder = registry
    v1 = _version(client, folder, 1.2)
    result = promote(NAME, v1, "champion")
    mv = client.get_model_version(NAME, v1)
    assert mv.aliases == ["champion"] and mv.current_stage == "Production"
    assert "| Net Sharpe (annualised) | 0.900 | 1.200 |" in mv.description
    assert "min_net_sharpe" in mv.description and "Test window:" in mv.description
    assert mv.tags["promotion.alias"] == "champion" and mv.tags["test_net_sharpe"] == "1.2"
    assert "now 'champion' (stage Production)" in result.summary()


def test_refused_gate_changes_nothing(registry):
    client, folder = registry
    v1 = _version(client, folder, 1.2)
    promote(NAME, v1, "champion")
    v2 = _version(client, folder, -0.4, trades=3)
    before = _snapshot(client)
    with pytest.raises(PromotionRefused) as err:
        promote(NAME, v2, "champion")
    msg = str(err.value)
    assert "min_net_sharpe" in msg and "min_trades" in msg and "must_beat_champion" in msg
    assert _snapshot(client) == before


def test_better_version_replaces_champion_and_archives_it(registry):
    client, folder = registry
    v1 = _version(client, folder, 1.2)
    promote(NAME, v1, "champion")
    v2 = _version(client, folder, 1.5)
    result = promote(NAME, v2, "champion")
    assert result.previous == v1
    old, new = client.get_model_version(NAME, v1), client.get_model_version(NAME, v2)
    assert new.aliases == ["champion"] and new.current_stage == "Production"
    assert old.aliases == [] and old.current_stage == "Archived"


def test_champion_on_other_data_cannot_be_compared(registry):
    client, folder = registry
    promote(NAME, _version(client, folder, 1.2), "champion")
    v2 = _version(client, folder, 3.0, data_sha256="other")
    before = _snapshot(client)
    with pytest.raises(PromotionRefused, match=r"must_beat_champion: cannot compare .*data_sha256"):
        promote(NAME, v2, "champion")
    assert _snapshot(client) == before


def test_worse_version_is_refused_by_the_champion_gate(registry):
    client, folder = registry
    promote(NAME, _version(client, folder, 1.2), "champion")
    with pytest.raises(PromotionRefused, match=r"must_beat_champion: test_net_sharpe 0\.8 <= champion"):
        promote(NAME, _version(client, folder, 0.8), "champion")


def test_challenger_goes_to_staging_with_its_own_gates(registry):
    client, folder = registry
    promote(NAME, _version(client, folder, 1.2), "champion")
    v2 = _version(client, folder, -0.3, trades=8)  # challenger gates: no Sharpe floor, 5 trades
    promote(NAME, v2, "challenger")
    mv = client.get_model_version(NAME, v2)
    assert mv.aliases == ["challenger"] and mv.current_stage == "Staging"
    v3 = _version(client, folder, 0.1, trades=9)
    promote(NAME, v3, "challenger")
    assert client.get_model_version(NAME, v2).current_stage == "Archived"
    assert client.get_model_version(NAME, v3).aliases == ["challenger"]


def test_optional_pbo_and_dsr_gates(registry):
    client, folder = registry
    v1 = _version(client, folder, 1.2, test_pbo="0.8")
    with pytest.raises(PromotionRefused, match="max_pbo"):
        promote(NAME, v1, "champion")
    v2 = _version(client, folder, 1.2, test_pbo="0.1", test_dsr="0.9")
    assert {g.gate for g in promote(NAME, v2, "champion").gates} >= {"max_pbo", "min_dsr"}


def test_gates_come_from_config(registry, tmp_path):
    client, folder = registry
    v1 = _version(client, folder, -1.0, trades=2)
    cfg = tmp_path / "gates.yaml"
    cfg.write_text("promotion:\n  champion: {min_net_sharpe: -2, min_trades: 1}\n")
    promote(NAME, v1, "champion", config_file=cfg)
    assert client.get_model_version(NAME, v1).current_stage == "Production"
    cfg.write_text("champion: {no_such_gate: 1}\n")
    with pytest.raises(FactoryError, match="no_such_gate"):
        load_promotion_config(cfg)


def test_unknown_version_and_alias(registry):
    with pytest.raises(RegistryError, match="no version 9"):
        promote(NAME, 9, "champion")
    with pytest.raises(FactoryError, match="unknown alias"):
        promote(NAME, 1, "best")


def test_resolve_model_uri(registry):
    client, folder = registry
    v1 = _version(client, folder, 1.2)
    v2 = _version(client, folder, 1.5)
    promote(NAME, v1, "champion")
    assert resolve_model_uri(f"models:/{NAME}@champion").uri == f"models:/{NAME}/{v1}"
    assert resolve_model_uri(f"models:/{NAME}/Production").version == v1
    assert resolve_model_uri(NAME).uri == f"models:/{NAME}/{v1}"  # bare name: the champion
    assert resolve_model_uri(f"models:/{NAME}/latest").version == v2
    assert resolve_model_uri(f"models:/{NAME}/{v2}").version == v2
    assert resolve_model_uri("runs:/abc/model").uri == "runs:/abc/model"
    with pytest.raises(RegistryError, match="alias 'challenger'"):
        resolve_model_uri(f"models:/{NAME}@challenger")
    with pytest.raises(RegistryError, match="no version in stage Staging"):
        resolve_model_uri(f"models:/{NAME}/Staging")
    with pytest.raises(RegistryError, match="no registered model named 'mes-nope'"):
        resolve_model_uri("models:/mes-nope@champion")


def test_cli_refusal_is_one_line_exit_2(registry):
    client, folder = registry
    v1 = _version(client, folder, -1.0)
    res = subprocess.run([sys.executable, "-m", "factory.cli", "promote", "--name", NAME, "--version", v1],
                         capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith("error: ") and "failed gate(s): min_net_sharpe" in res.stderr
    assert client.get_model_version(NAME, v1).current_stage == "None"
