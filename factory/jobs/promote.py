"""`factory promote` / `mlflow run . -e promote`: move an alias to a model version once it passes the gates.

Aliases are the promotion mechanism and are mirrored to the classic stages so the registry UI shows both:
``champion`` -> ``Production``, ``challenger`` -> ``Staging``; the version that held the alias before goes to
``Archived``. The promoted version's description becomes a Markdown table of its evaluation numbers, and the
same numbers are (re)written as its tags.

Gates come from ``mlproject/promotion.yaml`` (``promotion: {champion: {...}, challenger: {...}}``), optionally
overridden by a file of the same shape. Every gate is checked before anything is written: a refused promotion
raises :class:`PromotionRefused` naming each failed gate and leaves the registry exactly as it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field

from factory._config_base import StrictConfig
from factory.config import PROJECT_DIR
from factory.errors import FactoryError
from factory.packaging.registry import (
    ALIAS_STAGES, SUMMARY_ROWS, alias_holder, client, description_table, get_version, set_version_tags,
    transition_stage,
)

PROMOTION_FILE = PROJECT_DIR / "mlproject" / "promotion.yaml"
# Tags the comparison with the champion requires to be equal: same data, same test window.
WINDOW_TAGS = ("data_sha256", "test_start_row", "test_end_row", "test_start", "test_end")


class PromotionRefused(FactoryError):
    """A version failed one or more promotion gates; nothing was changed."""


class AliasGates(StrictConfig):
    """Gates of one alias; ``None`` switches a gate off. Values are read from the version's ``test_*`` tags."""

    min_net_sharpe: float | None = None
    min_trades: int | None = Field(None, ge=0)
    min_win_rate: float | None = Field(None, ge=0, le=1)
    max_drawdown_usd: float | None = Field(None, ge=0)
    max_pbo: float | None = Field(None, ge=0, le=1)  # only when the version has a test_pbo tag
    min_dsr: float | None = Field(None, ge=0, le=1)  # only when the version has a test_dsr tag
    must_beat_champion: bool = False


class PromotionConfig(StrictConfig):
    champion: AliasGates = AliasGates(must_beat_champion=True)
    challenger: AliasGates = AliasGates()


def load_promotion_config(config_file: str | Path | None = None,
                          base_file: str | Path | None = PROMOTION_FILE) -> PromotionConfig:
    """Gates from ``mlproject/promotion.yaml``, then an override file (with or without the ``promotion:`` key)."""
    from factory.config import merge_section_files

    raw, where = merge_section_files((base_file, config_file), "promotion")
    return PromotionConfig.from_dict(raw, where=where)


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{self.gate}: {self.detail}"


@dataclass
class PromotionResult:
    name: str
    version: str
    alias: str
    stage: str
    previous: str | None
    gates: list[GateResult] = field(default_factory=list)
    changed: bool = True

    def summary(self) -> str:
        if not self.changed:
            return f"{self.name} version {self.version} already holds alias '{self.alias}' (stage {self.stage})"
        prev = f"; version {self.previous} archived" if self.previous else ""
        return f"{self.name} version {self.version} is now '{self.alias}' (stage {self.stage}){prev}"


def _num(tags: dict[str, str], key: str) -> float | None:
    try:
        v = float(tags[key])
    except (KeyError, TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _bound(tags: dict[str, str], gate: str, key: str, limit: float | None, *, minimum: bool,
           optional: bool = False) -> GateResult | None:
    if limit is None:
        return None
    v = _num(tags, key)
    if v is None:
        if optional and key not in tags:
            return None
        return GateResult(gate, False, f"the version has no usable '{key}' tag")
    ok = v >= limit if minimum else v <= limit
    rel = ">=" if minimum else "<="
    return GateResult(gate, ok, f"{key} = {v:.4g} {'' if ok else 'not '}{rel} {limit:g}")


def _beat_champion(name: str, version: str, tags: dict[str, str], c) -> GateResult:
    champ = alias_holder(name, "champion", c)
    if champ is None or str(champ.version) == str(version):
        return GateResult("must_beat_champion", True, "no other champion to beat")
    ctags = dict(champ.tags)
    differ = [k for k in WINDOW_TAGS if str(tags.get(k)) != str(ctags.get(k))]
    if differ:
        return GateResult("must_beat_champion", False,
                          f"cannot compare with champion version {champ.version}: evaluated on other data or another "
                          f"test window ({', '.join(differ)} differ); retrain both on the same data")
    mine, theirs = _num(tags, "test_net_sharpe"), _num(ctags, "test_net_sharpe")
    if mine is None or theirs is None:
        return GateResult("must_beat_champion", False, "test_net_sharpe missing on this version or the champion")
    ok = mine > theirs
    return GateResult("must_beat_champion", ok, f"test_net_sharpe {mine:.4g} {'>' if ok else '<='} champion version "
                                                f"{champ.version}'s {theirs:.4g}")


def check_gates(name: str, version: str, tags: dict[str, str], gates: AliasGates, mlflow_client=None
                ) -> list[GateResult]:
    """Every enabled gate's result for a version with ``tags`` (nothing is written)."""
    c = mlflow_client or client()
    results = [
        _bound(tags, "min_net_sharpe", "test_net_sharpe", gates.min_net_sharpe, minimum=True),
        _bound(tags, "min_trades", "test_n_trades", gates.min_trades, minimum=True),
        _bound(tags, "min_win_rate", "test_win_rate", gates.min_win_rate, minimum=True),
        _bound(tags, "max_drawdown_usd", "test_max_drawdown_usd", gates.max_drawdown_usd, minimum=False),
        _bound(tags, "max_pbo", "test_pbo", gates.max_pbo, minimum=False, optional=True),
        _bound(tags, "min_dsr", "test_dsr", gates.min_dsr, minimum=True, optional=True),
        _beat_champion(name, version, tags, c) if gates.must_beat_champion else None,
    ]
    return [r for r in results if r is not None]


def promote(name: str, version: int | str, alias: str = "champion", config_file: str | Path | None = None,
            mlflow_client=None) -> PromotionResult:
    """Gate, then move ``alias`` to ``version`` and mirror it to the stage; see the module docstring."""
    alias = str(alias).strip().lower()
    if alias not in ALIAS_STAGES:
        raise FactoryError(f"unknown alias '{alias}'; use one of {', '.join(ALIAS_STAGES)}")
    version = str(version).strip()
    if not version.isdigit():
        raise FactoryError(f"version must be a number, got '{version}'")
    gates = getattr(load_promotion_config(config_file), alias)
    c = mlflow_client or client()
    mv = get_version(name, version, c)
    tags = dict(mv.tags)
    stage = ALIAS_STAGES[alias]
    previous = alias_holder(name, alias, c)
    if previous is not None and str(previous.version) == version:
        return PromotionResult(name, version, alias, mv.current_stage, None, changed=False)
    if alias == "challenger":
        champ = alias_holder(name, "champion", c)
        if champ is not None and str(champ.version) == version:
            raise FactoryError(f"{name} version {version} is the champion; it cannot also be the challenger")
    results = check_gates(name, version, tags, gates, c)
    failed = [r for r in results if not r.passed]
    if failed:
        raise PromotionRefused(f"{name} version {version} not promoted to '{alias}': failed gate(s): "
                               + "; ".join(r.line() for r in failed))

    # Everything below writes; it runs only after every gate passed.
    numbers = {k: v for k, v in tags.items() if any(k == f"{p}_{s}" for p in ("val", "test")
                                                   for s, _, _ in SUMMARY_ROWS)}
    gate_lines = "\n".join(f"- {r.line()}" for r in results) or "- (no gates enabled)"
    c.update_model_version(name, version, description=description_table(
        tags, title=f"{name} version {version}: {alias} (stage {stage})") + f"\n\nGates passed:\n{gate_lines}")
    set_version_tags(name, version, {**numbers, "promotion.alias": alias, "promotion.gates":
                                     ", ".join(r.gate for r in results) or "none"}, c)
    if alias == "champion":
        challenger = alias_holder(name, "challenger", c)
        if challenger is not None and str(challenger.version) == version:
            c.delete_registered_model_alias(name, "challenger")
    c.set_registered_model_alias(name, alias, version)
    transition_stage(name, version, stage, c)
    prev_version = None
    if previous is not None:
        prev_version = str(previous.version)
        transition_stage(name, prev_version, "Archived", c)
    return PromotionResult(name, version, alias, stage, prev_version, results)
