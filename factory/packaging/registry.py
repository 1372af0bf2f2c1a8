"""Model Registry helpers: register a logged pyfunc, tag and describe versions, resolve model URIs.

Names are ``<contract>-<key>`` in lower case (``mes-lightgbm``). Evaluation numbers live on each version twice:
as tags (machine-readable, what promotion gates read) and as a Markdown table in the description (what people
read in the registry UI).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

from factory.errors import FactoryError

ALIAS_STAGES = {"champion": "Production", "challenger": "Staging"}
# Rows of the description table: (tag suffix, label, format). Tags are "<part>_<suffix>" for part val / test.
SUMMARY_ROWS = (
    ("net_sharpe", "Net Sharpe (annualised)", "{:.3f}"),
    ("win_rate", "Win rate", "{:.1%}"),
    ("max_drawdown_usd", "Max drawdown (USD / contract)", "{:,.2f}"),
    ("net_pnl_usd", "Net P&L (USD / contract)", "{:,.2f}"),
    ("n_trades", "Trades", "{:,.0f}"),
    ("psr", "Probabilistic Sharpe (vs 0)", "{:.3f}"),
    ("pbo", "PBO (probability of backtest overfitting)", "{:.3f}"),
    ("dsr", "Deflated Sharpe ratio", "{:.3f}"),
    ("log_loss", "Log loss", "{:.4f}"),
    ("accuracy", "Accuracy", "{:.3f}"),
    ("f1_macro", "F1 (macro)", "{:.3f}"),
    ("brier", "Brier score", "{:.4f}"),
)
PARTS = ("val", "test")
# Column headers of the parts: validation numbers chose the model (early stopping, calibration), so they are
# selection metrics and never presented as out-of-sample; the test split is the held-out one.
PART_LABELS = {"val": "Selection (validation: in-sample for model choice)", "test": "Held-out test"}
# Rows shown even without a value ("n/a"): the summary every version description promises.
ALWAYS_SHOWN = ("net_sharpe", "win_rate", "max_drawdown_usd", "pbo", "dsr")
# Numbers of the model choice across the CPCV leaderboard, not of one split: plain `pbo` / `dsr` version tags.
OVERFITTING_ROWS = ("pbo", "dsr")


class RegistryError(FactoryError):
    """A registered model, version or alias that does not exist, or a URI that cannot be resolved."""


def registered_name(contract: str, key: str) -> str:
    return f"{contract}-{key}".lower()


def serve_command(name: str, version: int | str, port: int = 5000) -> str:
    """The recommended command serving a version (``factory serve``, the hardened front)."""
    return f"factory serve -m models:/{name}/{version} -h 127.0.0.1 -p {port}"


def mlflow_serve_command(name: str, version: int | str, port: int = 5000) -> str:
    """The same version under plain ``mlflow models serve``."""
    return f"mlflow models serve -m models:/{name}/{version} --env-manager local -h 127.0.0.1 -p {port}"


def client():
    from mlflow import MlflowClient

    return MlflowClient()


def register(model_uri: str, name: str):
    """Register ``model_uri`` under ``name`` (created if needed); returns the new ``ModelVersion``."""
    import mlflow

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return mlflow.register_model(model_uri, name)


def format_value(value: Any, fmt: str) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return fmt.format(v) if math.isfinite(v) else "n/a"


def description_table(tags: dict[str, Any], title: str = "") -> str:
    """Markdown tables of the evaluation numbers found in ``tags``: selection (validation) and held-out test
    columns, then PBO / DSR of the model choice from the CPCV leaderboard (``pbo`` / ``dsr`` tags)."""
    lines = [f"**{title}**", ""] if title else []
    lines += [f"| Metric | {PART_LABELS['val']} | {PART_LABELS['test']} |", "|---|---:|---:|"]
    for suffix, label, fmt in SUMMARY_ROWS:
        if suffix in OVERFITTING_ROWS:
            continue
        if suffix not in ALWAYS_SHOWN and not any(f"{p}_{suffix}" in tags for p in PARTS):
            continue
        cells = [format_value(tags.get(f"{p}_{suffix}"), fmt) for p in PARTS]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    lines += ["", "| Model choice (CPCV leaderboard) | Value |", "|---|---:|"]
    for suffix, label, fmt in SUMMARY_ROWS:
        if suffix in OVERFITTING_ROWS:
            value = format_value(tags.get(suffix), fmt)
            if value == "n/a":
                value = f"n/a (run `factory evaluate --models {tags.get('factory_model', '<key>')}` on the same data)"
            lines.append(f"| {label} | {value} |")
    if tags.get("pbo_n_models") or tags.get("pbo_run_id"):
        lines += ["", f"Leaderboard: {tags.get('pbo_n_models', '?')} models compared "
                      f"(run {tags.get('pbo_run_id', '?')})"]
    window = [tags.get(k) for k in ("test_start", "test_end")]
    if all(window):
        lines += ["", f"Test window: {window[0]} to {window[1]} "
                      f"(held out; data sha256 {str(tags.get('data_sha256', ''))[:12]})"]
    return "\n".join(lines)


def tag_value(value: Any) -> str:
    """Tag text of a number (repr keeps full precision) or anything else."""
    if isinstance(value, float):
        return repr(value)
    return str(value)


# What a registered version keeps as tags out of a train run's numbers: the description's rows (selection and
# held-out), the per-bar Sharpe and its bar count (the deflated champion comparison), and the identity of the
# data and test window (promotion's same-window check). Every other metric stays on the run only.
VERSION_NUMBER_SUFFIXES = tuple(s for s, _, _ in SUMMARY_ROWS if s not in OVERFITTING_ROWS) + (
    "sharpe_per_bar", "n_bars")
VERSION_IDENTITY_TAGS = ("factory_model", "contract", "data_sha256", "test_start_row", "test_end_row", "test_start",
                         "test_end", "run_id", "git_commit")
TAG_SIGNIFICANT_DIGITS = 4


def rounded_tag_value(value: Any, digits: int = TAG_SIGNIFICANT_DIGITS) -> str:
    """A number as tag text with ``digits`` significant digits (``0.1235``, ``12350.0``); whole numbers (counts,
    rows) stay exact (``12000``, not ``1.2e+04``); anything else as text."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return repr(v)
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(f"{v:.{digits}g}"))


def version_number_tags(tags: dict[str, Any]) -> dict[str, str]:
    """The subset of a train run's ``tags`` written on its registered version, numbers rounded
    (:data:`VERSION_NUMBER_SUFFIXES`, :data:`VERSION_IDENTITY_TAGS`); the run keeps full precision."""
    keep = {f"{p}_{s}" for p in PARTS for s in VERSION_NUMBER_SUFFIXES}
    out = {k: rounded_tag_value(v) for k, v in tags.items() if k in keep}
    out.update({k: str(tags[k]) for k in VERSION_IDENTITY_TAGS if k in tags})
    return out


def set_version_tags(name: str, version: int | str, tags: dict[str, Any], mlflow_client=None) -> None:
    c = mlflow_client or client()
    for k, v in tags.items():
        c.set_model_version_tag(name, str(version), k, tag_value(v))


def get_version(name: str, version: int | str, mlflow_client=None):
    from mlflow.exceptions import MlflowException

    c = mlflow_client or client()
    try:
        return c.get_model_version(name, str(version))
    except MlflowException:
        raise RegistryError(f"registered model '{name}' has no version {version}") from None


def alias_holder(name: str, alias: str, mlflow_client=None):
    """The version holding ``alias`` of model ``name``, or ``None``."""
    from mlflow.exceptions import MlflowException

    c = mlflow_client or client()
    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


@dataclass(frozen=True)
class ResolvedModel:
    """A model URI pinned to one registry version (``version`` None for run or path URIs)."""

    uri: str
    name: str | None = None
    version: str | None = None
    run_id: str | None = None


_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<ref>[^/]+))?/?$")


def resolve_model_uri(name_or_uri: str, mlflow_client=None) -> ResolvedModel:
    """Pin a model reference to ``models:/<name>/<version>``.

    Accepted: ``models:/<name>@<alias>``, ``models:/<name>/<version>``, ``models:/<name>/<stage>`` (e.g.
    ``Production``; the newest version in that stage), ``models:/<name>/latest`` (the newest version),
    ``models:/<name>`` and a bare registered name (both: the ``champion`` if set, else the newest version).
    Any other URI (``runs:/...``, a path) is returned unchanged.
    """
    text = str(name_or_uri).strip()
    if not text.startswith("models:/"):
        if "/" in text or ":" in text:
            return ResolvedModel(uri=text)
        text = f"models:/{text}"
    m = _MODELS_URI.match(text)
    if not m:
        raise RegistryError(f"not a model URI: '{name_or_uri}' (expected models:/<name>@<alias> or "
                            "models:/<name>/<version or stage>)")
    c = mlflow_client or client()
    name, alias, ref = m.group("name"), m.group("alias"), m.group("ref")
    _require_model(c, name)
    if alias:
        mv = alias_holder(name, alias, c)
        if mv is None:
            raise RegistryError(f"registered model '{name}' has no version with alias '{alias}'")
    elif ref and ref.isdigit():
        mv = get_version(name, ref, c)
    elif ref and ref.lower() == "latest":
        mv = _newest(c, name)
    elif ref:
        mv = _latest_in_stage(c, name, ref)
    else:
        mv = alias_holder(name, "champion", c) or _newest(c, name)
    return ResolvedModel(uri=f"models:/{name}/{mv.version}", name=name, version=str(mv.version), run_id=mv.run_id)


def _require_model(c, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        c.get_registered_model(name)
    except MlflowException:
        raise RegistryError(f"no registered model named '{name}'") from None


def _newest(c, name: str):
    versions = c.search_model_versions(f"name = '{name}'")
    if not versions:
        raise RegistryError(f"registered model '{name}' has no versions")
    return max(versions, key=lambda v: int(v.version))


def _latest_in_stage(c, name: str, stage: str):
    stages = {"production": "Production", "staging": "Staging", "archived": "Archived", "none": "None"}
    canonical = stages.get(stage.lower())
    if canonical is None:
        raise RegistryError(f"'{stage}' is neither a version number nor a stage ({', '.join(stages.values())})")
    versions = [v for v in c.search_model_versions(f"name = '{name}'") if v.current_stage == canonical]
    if not versions:
        raise RegistryError(f"registered model '{name}' has no version in stage {canonical}")
    return max(versions, key=lambda v: int(v.version))


def transition_stage(name: str, version: int | str, stage: str, mlflow_client=None) -> None:
    """Set the classic stage (deprecated by MLflow but still shown in the UI) without archiving others."""
    c = mlflow_client or client()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        c.transition_model_version_stage(name, str(version), stage, archive_existing_versions=False)


def latest_version_with_data(name: str, data_sha256: str, mlflow_client=None):
    """The newest version of ``name`` whose ``data_sha256`` tag equals ``data_sha256``, or ``None`` (also when
    the registered model does not exist)."""
    from mlflow.exceptions import MlflowException

    c = mlflow_client or client()
    try:
        versions = c.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return None
    matching = [v for v in versions if (v.tags or {}).get("data_sha256") == data_sha256]
    return max(matching, key=lambda v: int(v.version)) if matching else None


def write_overfitting_tags(contract: str, scores: dict[str, dict[str, float]], data_sha256: str, run_id: str,
                           n_models: int, mlflow_client=None) -> dict[str, str]:
    """Write a leaderboard's PBO and DSR on the registered versions trained on the same data.

    For each key of ``scores`` (``{key: {"pbo": ..., "dsr": ...}}``) the latest version of
    ``registered_name(contract, key)`` tagged with ``data_sha256`` gets tags ``pbo``, ``dsr``, ``pbo_run_id``
    and ``pbo_n_models`` (and ``pbo_trials`` when the scores have it), and one line appended to its
    description. Returns ``{key: version}`` of the versions written; keys without a matching version are skipped (nothing was trained on this data under that name).
    """
    c = mlflow_client or client()
    written = {}
    for key, s in scores.items():
        name = registered_name(contract, key)
        mv = latest_version_with_data(name, data_sha256, c)
        if mv is None:
            continue
        tags = {"pbo": float(s["pbo"]), "dsr": float(s["dsr"]), "pbo_run_id": run_id, "pbo_n_models": int(n_models)}
        line = (f"CPCV leaderboard run {run_id}: PBO {format_value(s['pbo'], '{:.3f}')} across {n_models} models, "
                f"DSR {format_value(s['dsr'], '{:.3f}')}.")
        if "pbo_trials" in s:  # the leaderboard judged the barrier search too (factory.evaluation.trials)
            tags["pbo_trials"] = float(s["pbo_trials"])
            line += f" PBO across the barrier candidates {format_value(s['pbo_trials'], '{:.3f}')}."
        set_version_tags(name, mv.version, tags, c)
        text = (mv.description or "").rstrip()
        c.update_model_version(name, mv.version, description=f"{text}\n\n{line}" if text else line)
        written[key] = str(mv.version)
    return written
