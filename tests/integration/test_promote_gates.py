"""Promotion: gates from config, alias -> stage mirroring, archiving the previous holder, description tables.

Versions are created directly in a temporary SQLite registry with the tags the train step writes, so the numbers
the gates see are chosen by each test. By default a version also carries the CPCV leaderboard's ``pbo`` / ``dsr``
tags (good values): the default champion gates require them, and the tests about them remove or change them.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
from scipy.stats import norm

from factory.errors import FactoryError
from factory.packaging.registry import RegistryError, resolve_model_uri
from factory.jobs.promote import PromotionRefused, deflation_margin, gates_off, load_promotion_config, promote

NAME = "mes-lightgbm"
WINDOW = {"data_sha256": "abc123", "test_start_row": "8000", "test_end_row": "10000",
          "test_start": "2024-01-10T00:00:00+00:00", "test_end": "2024-01-12T00:00:00+00:00"}
N_BARS = 2000  # bars of the test window above
# Annualisation of 1-minute bars trading 23 hours a day, 252 days a year: per-bar Sharpe = annualised / sqrt(this).
BARS_PER_YEAR = 23 * 60 * 252
# What the leaderboard writes on a version; good values, so the default PBO / DSR gates pass.
LEADERBOARD = {"pbo": "0.2", "dsr": "0.8", "pbo_run_id": "lb1", "pbo_n_models": "5"}

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


def _version(client, folder, sharpe: float, trades: int = 50, per_bar: float | None = None, **extra) -> str:
    """A version with the train step's tags; ``extra`` adds or replaces tags (``None`` removes one)."""
    tags = {**WINDOW, **LEADERBOARD, "factory_model": "lightgbm", "test_net_sharpe": repr(sharpe),
            "test_n_trades": str(trades), "test_win_rate": "0.55", "test_max_drawdown_usd": "120.5",
            "val_net_sharpe": "0.9", "test_log_loss": "1.01", "test_n_bars": str(N_BARS),
            "test_sharpe_per_bar": repr(sharpe / math.sqrt(BARS_PER_YEAR) if per_bar is None else per_bar), **extra}
    tags = {k: v for k, v in tags.items() if v is not None}
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
    # A win well above the deflation margin (about 0.012 per bar, 6.8 annualised, for 2 versions on 2000 bars).
    v2 = _version(client, folder, 15.0)
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


def test_pbo_dsr_gates_refuse_a_version_without_their_tags(registry):
    client, folder = registry
    v1 = _version(client, folder, 1.2, pbo=None, dsr=None, pbo_run_id=None, pbo_n_models=None)
    before = _snapshot(client)
    with pytest.raises(PromotionRefused) as err:
        promote(NAME, v1, "champion")
    msg = str(err.value)
    assert "max_pbo: the version's 'pbo' tag is missing: PBO comes from the CPCV leaderboard" in msg
    assert "min_dsr: the version's 'dsr' tag is missing" in msg
    assert "run `factory evaluate --models lightgbm,logistic,xgboost`" in msg and "on the same data (sha256 abc123)" in msg
    assert "`max_pbo: null`" in msg
    assert _snapshot(client) == before
    v2 = _version(client, folder, 1.2, pbo="n/a")
    with pytest.raises(PromotionRefused, match="max_pbo: the version's 'pbo' tag is present but not a number"):
        promote(NAME, v2, "champion")


def test_pbo_above_and_dsr_below_their_gates_are_refused(registry):
    client, folder = registry
    v1 = _version(client, folder, 1.2, pbo="0.7", dsr="0.3")
    with pytest.raises(PromotionRefused) as err:
        promote(NAME, v1, "champion")
    msg = str(err.value)
    assert "max_pbo: pbo = 0.7 not <= 0.5 (5 models, leaderboard run lb1)" in msg
    assert "min_dsr: dsr = 0.3 not >= 0.5" in msg
    # The old per-split tags are not what the gates read any more.
    v2 = _version(client, folder, 1.2, test_pbo="0.1", test_dsr="0.9", pbo="0.7")
    with pytest.raises(PromotionRefused, match="max_pbo: pbo = 0.7"):
        promote(NAME, v2, "champion")


def test_good_pbo_and_dsr_pass_and_are_shown(registry):
    client, folder = registry
    v1 = _version(client, folder, 1.2, pbo="0.1", dsr="0.9")
    gates = {g.gate: g for g in promote(NAME, v1, "champion").gates}
    assert gates["max_pbo"].passed and gates["max_pbo"].detail == "pbo = 0.1 <= 0.5 (5 models, leaderboard run lb1)"
    assert gates["min_dsr"].passed and gates["min_dsr"].detail.startswith("dsr = 0.9 >= 0.5")
    desc = client.get_model_version(NAME, v1).description
    assert "| PBO (probability of backtest overfitting) | 0.100 |" in desc
    assert "| Deflated Sharpe ratio | 0.900 |" in desc
    assert "| Metric | Selection (validation: in-sample for model choice) | Held-out test |" in desc


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


# --- gates switched off are recorded ------------------------------------------------------------------------
def test_pbo_trials_gate_refuses_without_the_tag_and_above_its_limit(registry, tmp_path):
    client, folder = registry
    cfg = tmp_path / "trials_gate.yaml"
    cfg.write_text("promotion:\n  champion: {max_pbo_trials: 0.4}\n")
    v1 = _version(client, folder, 1.2, pbo="0.1", dsr="0.9")
    before = _snapshot(client)
    with pytest.raises(PromotionRefused) as err:
        promote(NAME, v1, "champion", config_file=cfg)
    msg = str(err.value)
    assert "max_pbo_trials: the version's 'pbo_trials' tag is missing" in msg
    assert "`factory evaluate --models lightgbm --tuning-trials 20` on the same data (sha256 abc123)" in msg
    assert "max_pbo:" not in msg and _snapshot(client) == before  # the leaderboard gates pass
    v2 = _version(client, folder, 1.2, pbo="0.1", dsr="0.9", pbo_trials="0.6")
    with pytest.raises(PromotionRefused, match=r"max_pbo_trials: pbo_trials = 0.6 not <= 0.4"):
        promote(NAME, v2, "champion", config_file=cfg)
    v3 = _version(client, folder, 1.2, pbo="0.1", dsr="0.9", pbo_trials="0.25")
    gates = {g.gate: g for g in promote(NAME, v3, "champion", config_file=cfg).gates}
    assert gates["max_pbo_trials"].passed and gates["max_pbo_trials"].detail.startswith("pbo_trials = 0.25 <= 0.4")


def test_default_gates_off_are_listed_with_the_default_file(registry):
    client, folder = registry
    v1 = _version(client, folder, 1.2)
    result = promote(NAME, v1, "champion")
    expected = "min_win_rate, max_drawdown_usd, max_pbo_trials (off in mlproject/promotion.yaml)"
    assert result.gates_off == [("min_win_rate", "off in mlproject/promotion.yaml"),
                                ("max_drawdown_usd", "off in mlproject/promotion.yaml"),
                                ("max_pbo_trials", "off in mlproject/promotion.yaml")]
    assert result.summary().splitlines()[1] == f"gates off: {expected}"
    mv = client.get_model_version(NAME, v1)
    assert "Gates switched off (not checked):\n- min_win_rate: off in mlproject/promotion.yaml\n" \
           "- max_drawdown_usd: off in mlproject/promotion.yaml\n- max_pbo_trials: off in mlproject/promotion.yaml" \
           in mv.description
    assert mv.tags["promotion.gates_off"] == expected


def test_gates_switched_off_by_an_override_are_named_with_its_file(registry, tmp_path):
    client, folder = registry
    v1 = _version(client, folder, 1.2, pbo=None, dsr=None)  # would be refused with the default gates
    cfg = tmp_path / "no_overfitting_gates.yaml"
    cfg.write_text("promotion:\n  champion: {max_pbo: null, min_dsr: null, must_beat_champion: false, "
                   "min_win_rate: 0.5}\n")
    result = promote(NAME, v1, "champion", config_file=cfg)
    off = dict(result.gates_off)
    assert off == {"max_drawdown_usd": "off in mlproject/promotion.yaml",
                   "max_pbo_trials": "off in mlproject/promotion.yaml",
                   "max_pbo": f"switched off by {cfg}", "min_dsr": f"switched off by {cfg}",
                   "must_beat_champion": f"switched off by {cfg}"}
    assert "min_win_rate" not in off  # switched on by the override
    desc = client.get_model_version(NAME, v1).description
    assert f"- max_pbo: switched off by {cfg}" in desc and f"- must_beat_champion: switched off by {cfg}" in desc
    assert f"max_pbo, min_dsr, must_beat_champion (switched off by {cfg})" in result.summary()
    # The challenger's gates: every one but min_trades is off in the default file.
    assert [g for g, _ in gates_off("challenger")] == ["min_net_sharpe", "min_win_rate", "max_drawdown_usd",
                                                       "max_pbo", "min_dsr", "max_pbo_trials", "must_beat_champion"]


def test_cli_prints_the_gates_that_were_off(registry, tmp_path):
    client, folder = registry
    v1 = _version(client, folder, 1.2, pbo=None, dsr=None)
    cfg = tmp_path / "gates.yaml"
    cfg.write_text("champion: {max_pbo: null, min_dsr: null}\n")
    res = subprocess.run([sys.executable, "-m", "factory.cli", "promote", "--name", NAME, "--version", v1,
                          "--config", str(cfg)], capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert res.returncode == 0, res.stderr
    assert f"gates off: min_win_rate, max_drawdown_usd, max_pbo_trials (off in mlproject/promotion.yaml); max_pbo, min_dsr " \
           f"(switched off by {cfg})" in res.stdout


# --- deflated comparison with the champion ------------------------------------------------------------------
def test_deflation_margin_is_the_expected_best_of_unskilled_versions():
    gamma = 0.5772156649015329
    se = 1 / math.sqrt(N_BARS - 1)
    # Two versions: Phi^-1(1 - 1/2) = 0, so only the second term of the false strategy theorem is left.
    assert deflation_margin(2, N_BARS) == pytest.approx(se * gamma * norm.ppf(1 - 1 / (2 * math.e)), rel=1e-12)
    ten = se * ((1 - gamma) * norm.ppf(1 - 1 / 10) + gamma * norm.ppf(1 - 1 / (10 * math.e)))
    assert deflation_margin(10, N_BARS) == pytest.approx(ten, rel=1e-12)
    assert deflation_margin(10, N_BARS) > deflation_margin(2, N_BARS) > 0


def test_hair_win_after_many_comparisons_is_refused(registry):
    client, folder = registry
    champion_pb = 0.02
    promote(NAME, _version(client, folder, 1.2, per_bar=champion_pb), "champion")
    for k in range(7):  # earlier challengers scored on the same window (never promoted)
        _version(client, folder, 0.5 + k / 10, per_bar=champion_pb - 0.001 * k)
    _version(client, folder, 9.0, per_bar=0.5, test_start_row="7000")  # another window: not counted
    # Beats the champion by 1.5 times the two-version margin, but this is the 9th look at the window.
    hair = 1.5 * deflation_margin(2, N_BARS)
    v = _version(client, folder, 1.3, per_bar=champion_pb + hair)
    margin = deflation_margin(9, N_BARS)
    assert hair < margin
    before = _snapshot(client)
    with pytest.raises(PromotionRefused) as err:
        promote(NAME, v, "champion")
    msg = str(err.value)
    assert (f"must_beat_champion: test_net_sharpe 1.3 > champion version 1's 1.2, and per-bar Sharpe "
            f"{champion_pb + hair:.4g} - {champion_pb:.4g} = {hair:.4g} <= {margin:.4g}, the expected best of 9 "
            f"unskilled versions on this test window ({N_BARS} bars): the win is within selection noise") in msg
    assert _snapshot(client) == before


def test_large_win_passes_the_deflated_comparison(registry):
    client, folder = registry
    promote(NAME, _version(client, folder, 1.2, per_bar=0.02), "champion")
    for k in range(7):
        _version(client, folder, 0.5, per_bar=0.01)
    v = _version(client, folder, 40.0, per_bar=0.02 + 2 * deflation_margin(9, N_BARS))
    result = promote(NAME, v, "champion")
    beat = {g.gate: g for g in result.gates}["must_beat_champion"]
    assert beat.passed and "the expected best of 9 unskilled versions" in beat.detail
    assert client.get_model_version(NAME, v).aliases == ["champion"]


def test_deflated_comparison_needs_per_bar_tags(registry):
    client, folder = registry
    promote(NAME, _version(client, folder, 1.2, test_sharpe_per_bar=None), "champion")
    with pytest.raises(PromotionRefused, match=r"must_beat_champion: test_sharpe_per_bar / test_n_bars missing on "
                                               r"this version or champion version 1"):
        promote(NAME, _version(client, folder, 30.0), "champion")
