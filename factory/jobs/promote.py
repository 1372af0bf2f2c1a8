"""`factory promote` / `mlflow run . -e promote`: move an alias to a model version once it passes the gates.

Aliases are the promotion mechanism and are mirrored to the classic stages so the registry UI shows both:
``champion`` -> ``Production``, ``challenger`` -> ``Staging``; the version that held the alias before goes to
``Archived``. The promoted version's description becomes a Markdown table of its evaluation numbers, and the
same numbers are (re)written as its tags.

Gates come from ``mlproject/promotion.yaml`` (``promotion: {champion: {...}, challenger: {...}}``), optionally
overridden by a file of the same shape. Every gate is checked before anything is written: a refused promotion
raises :class:`PromotionRefused` naming each failed gate and leaves the registry exactly as it was. A gate that
is off (``null``, or ``must_beat_champion: false``) is not silently forgotten: the promoted version's description,
its ``promotion.gates_off`` tag and the command's output list each one with the config file that switched it off.

PBO / DSR (``max_pbo`` / ``min_dsr``) read the version's ``pbo`` / ``dsr`` tags, written by the CPCV leaderboard
(``factory evaluate --models ...``, with ``pbo_run_id`` and ``pbo_n_models``): they measure how much choosing
among the models compared on the data overfits, so they are not properties of one train run. A version without
them is refused by a gate that needs them (the message says what to run); it is never waved through.
``max_pbo_trials`` reads ``pbo_trials``: PBO across the barrier search's candidates, written by a leaderboard
run with ``--tuning-trials N`` (:mod:`factory.evaluation.trials`); off by default, as that run costs N leaderboards.

Deflated champion comparison (``must_beat_champion``). Every version trained on the same data and scored on the
same test window is one more look at that window, and "beat the champion on the test window" picks the best of
all those looks: with enough retries an unskilled challenger beats the champion by luck. So the challenger's
per-bar test Sharpe (``test_sharpe_per_bar``, over ``test_n_bars`` bars) must exceed the champion's by the
expected maximum Sharpe of ``N`` unskilled trials (:func:`factory.validation.stats.expected_max_sharpe`), ``N``
the number of versions of the registered model that carry the same window tags (``data_sha256``, test rows and
timestamps: every version that has been compared on that window, this one included). The trials' Sharpe
variance is ``1 / (n_bars - 1)``: the sampling variance of a per-bar Sharpe ratio estimated from ``n_bars``
returns when the true Sharpe is zero (Lo 2002; the PSR's standard error at SR = 0), which is how far unskilled
versions' Sharpe ratios scatter around each other on one window. With two versions the margin is about
``0.52 / sqrt(n_bars - 1)``; it grows like ``sqrt(2 ln N)`` as versions accumulate.
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
    # PBO / DSR from the CPCV leaderboard's `pbo` / `dsr` version tags; a version without them is refused.
    max_pbo: float | None = Field(None, ge=0, le=1)
    min_dsr: float | None = Field(None, ge=0, le=1)
    # PBO across the barrier search's candidates (`pbo_trials` tag, `factory evaluate --tuning-trials N`).
    max_pbo_trials: float | None = Field(None, ge=0, le=1)
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
    gates_off: list[tuple[str, str]] = field(default_factory=list)  # (gate, where it was switched off)

    def summary(self) -> str:
        if not self.changed:
            return f"{self.name} version {self.version} already holds alias '{self.alias}' (stage {self.stage})"
        prev = f"; version {self.previous} archived" if self.previous else ""
        line = f"{self.name} version {self.version} is now '{self.alias}' (stage {self.stage}){prev}"
        off = describe_gates_off(self.gates_off)
        return line + (f"\ngates off: {off}" if off else "")


def _section(file: str | Path | None, alias: str) -> dict:
    """The gates one promotion file sets for ``alias`` (what it says, before merging)."""
    from factory.config import merge_section_files

    if not file:
        return {}
    raw, _ = merge_section_files((file,), "promotion")
    return raw.get(alias) if isinstance(raw.get(alias), dict) else {}


def _file_label(file: str | Path) -> str:
    return "mlproject/promotion.yaml" if Path(file).resolve() == PROMOTION_FILE.resolve() else str(file)


def gates_off(alias: str, config_file: str | Path | None = None, base_file: str | Path | None = PROMOTION_FILE
              ) -> list[tuple[str, str]]:
    """Each gate of ``alias`` that is off (``null``, or ``must_beat_champion: false``) and the file that made it so:
    the override file when it sets the gate, else the base file; a gate neither sets is off by default."""
    gates = getattr(load_promotion_config(config_file, base_file), alias)
    base, over = _section(base_file, alias), _section(config_file, alias)
    out = []
    for gate in AliasGates.model_fields:
        value = getattr(gates, gate)
        # Identity, not equality: a threshold of 0 (min_net_sharpe: 0.0) is a gate that is on.
        if value is not None and value is not False:
            continue
        if gate in over:
            where = f"switched off by {_file_label(config_file)}"
        elif gate in base:
            where = f"off in {_file_label(base_file)}"
        else:
            where = "off by default (set by no promotion file)"
        out.append((gate, where))
    return out


def describe_gates_off(off: list[tuple[str, str]]) -> str:
    """``"a, b (off in X); c (switched off by Y)"``: the gates grouped by where they were switched off."""
    groups: dict[str, list[str]] = {}
    for gate, where in off:
        groups.setdefault(where, []).append(gate)
    return "; ".join(f"{', '.join(g)} ({where})" for where, g in groups.items())


def _num(tags: dict[str, str], key: str) -> float | None:
    try:
        v = float(tags[key])
    except (KeyError, TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _bound(tags: dict[str, str], gate: str, key: str, limit: float | None, *, minimum: bool) -> GateResult | None:
    if limit is None:
        return None
    v = _num(tags, key)
    if v is None:
        return GateResult(gate, False, f"the version has no usable '{key}' tag")
    ok = v >= limit if minimum else v <= limit
    rel = ">=" if minimum else "<="
    return GateResult(gate, ok, f"{key} = {v:.4g} {'' if ok else 'not '}{rel} {limit:g}")


def _overfitting(tags: dict[str, str], gate: str, key: str, limit: float | None, *, minimum: bool
                 ) -> GateResult | None:
    """A PBO / DSR gate: the leaderboard's ``pbo`` / ``dsr`` tag, and a refusal saying what to run without it."""
    if limit is None:
        return None
    if _num(tags, key) is None:
        model = tags.get("factory_model", "<key>")
        sha = str(tags.get("data_sha256", ""))[:12]
        what = "present but not a number" if key in tags else "missing"
        others = ",".join([k for k in ("lightgbm", "logistic", "xgboost") if k != model][:2])
        data = f"on the same data{f' (sha256 {sha})' if sha else ''}"
        if key == "pbo_trials":
            why = (f"it comes from the CPCV leaderboard run with the barrier search judged; run `factory evaluate "
                   f"--models {model} --tuning-trials 20` {data} to write it on the version")
        else:
            why = (f"{key.upper()} comes from the CPCV leaderboard, which compares models on one data set; run "
                   f"`factory evaluate --models {model},{others}` (this model and the other candidates) {data} to "
                   "write it on the version")
        return GateResult(gate, False, f"the version's '{key}' tag is {what}: {why}, or switch the gate off with "
                                       f"`{gate}: null` in a promotion config")
    res = _bound(tags, gate, key, limit, minimum=minimum)
    source = [f"{tags[k]} {label}" for k, label in (("pbo_n_models", "models"),) if tags.get(k)]
    if tags.get("pbo_run_id"):
        source.append(f"leaderboard run {tags['pbo_run_id']}")
    return GateResult(gate, res.passed, res.detail + (f" ({', '.join(source)})" if source else ""))


def same_window_versions(name: str, tags: dict[str, str], c) -> list:
    """Versions of ``name`` evaluated on the same data and test window as ``tags`` (all :data:`WINDOW_TAGS`)."""
    if any(tags.get(k) in (None, "") for k in WINDOW_TAGS):
        return []
    return [v for v in c.search_model_versions(f"name = '{name}'")
            if all(str(dict(v.tags).get(k)) == str(tags[k]) for k in WINDOW_TAGS)]


def deflation_margin(n_trials: int, n_bars: int) -> float:
    """Per-bar Sharpe a challenger must add over the champion after ``n_trials`` looks at one window of
    ``n_bars`` bars: the expected maximum of ``n_trials`` unskilled Sharpe ratios of variance ``1/(n_bars-1)``."""
    from factory.validation.stats import expected_max_sharpe

    return expected_max_sharpe(max(int(n_trials), 1), 1.0 / (int(n_bars) - 1))


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
    if mine <= theirs:
        return GateResult("must_beat_champion", False, f"test_net_sharpe {mine:.4g} <= champion version "
                                                       f"{champ.version}'s {theirs:.4g}")
    pb, cpb, n_bars = _num(tags, "test_sharpe_per_bar"), _num(ctags, "test_sharpe_per_bar"), _num(tags, "test_n_bars")
    if pb is None or cpb is None or n_bars is None or n_bars < 3:
        return GateResult("must_beat_champion", False,
                          f"test_sharpe_per_bar / test_n_bars missing on this version or champion version "
                          f"{champ.version}: the deflated comparison needs them (versions trained by an older "
                          "factory lack them); retrain, or switch the gate off with `must_beat_champion: false`")
    n_trials = max(len(same_window_versions(name, tags, c)), 2)  # at least this version and the champion
    margin = deflation_margin(n_trials, int(n_bars))
    ok = pb - cpb > margin
    return GateResult("must_beat_champion", ok, (
        f"test_net_sharpe {mine:.4g} > champion version {champ.version}'s {theirs:.4g}, and per-bar Sharpe "
        f"{pb:.4g} - {cpb:.4g} = {pb - cpb:.4g} {'>' if ok else '<='} {margin:.4g}, the expected best of "
        f"{n_trials} unskilled versions on this test window ({int(n_bars)} bars)"
        + ("" if ok else ": the win is within selection noise")))


def check_gates(name: str, version: str, tags: dict[str, str], gates: AliasGates, mlflow_client=None
                ) -> list[GateResult]:
    """Every enabled gate's result for a version with ``tags`` (nothing is written)."""
    c = mlflow_client or client()
    results = [
        _bound(tags, "min_net_sharpe", "test_net_sharpe", gates.min_net_sharpe, minimum=True),
        _bound(tags, "min_trades", "test_n_trades", gates.min_trades, minimum=True),
        _bound(tags, "min_win_rate", "test_win_rate", gates.min_win_rate, minimum=True),
        _bound(tags, "max_drawdown_usd", "test_max_drawdown_usd", gates.max_drawdown_usd, minimum=False),
        _overfitting(tags, "max_pbo", "pbo", gates.max_pbo, minimum=False),
        _overfitting(tags, "min_dsr", "dsr", gates.min_dsr, minimum=True),
        _overfitting(tags, "max_pbo_trials", "pbo_trials", gates.max_pbo_trials, minimum=False),
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
    off = gates_off(alias, config_file)
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
    off_lines = "\n".join(f"- {g}: {where}" for g, where in off)
    c.update_model_version(name, version, description=description_table(
        tags, title=f"{name} version {version}: {alias} (stage {stage})") + f"\n\nGates passed:\n{gate_lines}"
        + (f"\n\nGates switched off (not checked):\n{off_lines}" if off else ""))
    set_version_tags(name, version, {**numbers, "promotion.alias": alias, "promotion.gates":
                                     ", ".join(r.gate for r in results) or "none",
                                     "promotion.gates_off": describe_gates_off(off) or "none"}, c)
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
    return PromotionResult(name, version, alias, stage, prev_version, results, gates_off=off)
