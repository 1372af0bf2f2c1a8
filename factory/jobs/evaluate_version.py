"""`factory evaluate --model-uri models:/<name>@champion --data FILE`: score one registered version on a held-out file.

Nothing is refitted. The version is evaluated with its own fitted parts, exactly as it would be served:

* the model: the registered version's pyfunc is downloaded and loaded through MLflow, and its
  :class:`~factory.packaging.bundle.ModelBundle` (fitted feature pipeline, HMM, model, calibration, return
  distribution, cost model) is the one the served pyfunc predicts with;
* its inputs: :meth:`ModelBundle.model_inputs` on the file's bars (the function the pyfunc calls);
* the labels: triple barriers with the version's own ``label_config`` (``k_up``, ``k_down``, ``horizon``,
  ``atr_window``, ``path``, ``include_costs`` from its MLmodel metadata), costed with the version's cost model;
* the score: :func:`factory.fitting.evaluate` over every bar from the bundle's lookback on (the train job's code:
  classification metrics on the labelled bars, a backtest of the signal with the version's costs);
* the data: read with the version's own ``data`` settings (time zone, gap factor, calendar, resampling), which
  ``config_file`` (a ``data:`` section) and ``tz`` may override: how a file is read can differ from the
  training file's, what is computed from it cannot.

Regimes (the per-regime Sharpe columns): the HMM state of each bar comes from the version's fitted HMM (the
``hmm_p*`` inputs); the trend regime has no fitted state (efficiency ratio against ``1/sqrt(window)``, window from
the version's config). The volatility regime's terciles were fitted on the version's training rows but are not
stored in the model, so here they are the terciles of the held-out file's own realised volatility: the
``volatility`` rows of the regime table split the file into its own low / normal / high thirds (tag
``heldout_vol_regime_thresholds=heldout_file``). The headline numbers do not depend on regimes.

The result goes to a new MLflow run tagged ``factory.entry_point=evaluate``, ``factory.evaluated_model_uri``
(pinned to ``models:/<name>/<version>``) and ``factory.evaluated_version``, with the metrics prefixed
``heldout_``, the trades (``backtest/trades_heldout.csv``), the per-regime table and an equity plot as artifacts;
the version gets a ``heldout_run_id`` tag pointing back at the run. A file whose bars overlap the version's own
data (same sha256, or timestamps up to the end of its test window) is still scored, with a warning and the
``heldout_overlap_bars`` tag, since those bars are not held out.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory.errors import ConfigError, FactoryError
from factory.packaging.registry import SUMMARY_ROWS

# Rows of the printed table: the version description's rows (what promotion shows) without the leaderboard's
# PBO / DSR, which belong to the model choice rather than to one file, plus the number of labelled bars scored.
TABLE_ROWS = tuple(r for r in SUMMARY_ROWS if r[0] not in ("pbo", "dsr")) + (
    ("n_samples", "Labelled bars scored", "{:,.0f}"),)
# The one pipeline section an override file may set: how the file is read, not what is computed from it.
DATA_OVERRIDE_SECTION = "data"


@dataclass
class HeldoutDataset:
    """The attributes :func:`factory.fitting.evaluate` reads, built from a held-out file and one version."""

    bars: pd.DataFrame
    features: pd.DataFrame
    labels: pd.DataFrame
    sample_rows: np.ndarray
    regimes: pd.DataFrame
    config: Any = None  # the version's PipelineConfig (its backtest settings)
    barrier_definition: Any = None  # the version's label barriers (the backtest's exits)


@dataclass
class EvaluateVersionResult:
    run_id: str
    name: str
    version: str
    model_uri: str
    metrics: dict[str, float]  # heldout_* keys, as logged
    n_bars: int
    overlap_bars: int
    table: str
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------- loading
def _download_version(model_uri: str, dst: str):
    """``(resolved, local folder, MLmodel, metadata, saved config)`` of the registered version behind
    ``model_uri``; cheap (no model is loaded), so every check on metadata runs before the model is."""
    import mlflow
    import yaml
    from mlflow.models import Model

    from factory.packaging.registry import RegistryError, resolve_model_uri

    resolved = resolve_model_uri(model_uri)
    if resolved.version is None:
        raise RegistryError(f"'{model_uri}' is not a registered model version; use models:/<name>@<alias> or "
                            "models:/<name>/<version>")
    local = Path(mlflow.artifacts.download_artifacts(resolved.uri, dst_path=dst))
    mlmodel = Model.load(str(local))
    meta = dict(mlmodel.metadata or {})
    missing = [k for k in ("label_config", "contract", "min_bars") if k not in meta]
    if missing:
        raise FactoryError(f"{resolved.uri} has no factory metadata ({', '.join(missing)}): not a factory model")
    artifacts = mlmodel.flavors.get("python_function", {}).get("artifacts", {})
    config_rel = (artifacts.get("config") or {}).get("path")
    saved = yaml.safe_load((local / config_rel).read_text()) if config_rel else {}
    return resolved, local, meta, saved or {}


def _load_bundle(local: Path):
    """The :class:`ModelBundle` of the pyfunc in ``local``, loaded by MLflow as it is for serving."""
    import mlflow

    return mlflow.pyfunc.load_model(str(local)).unwrap_python_model().bundle


def _pipeline_config(saved: dict[str, Any], contract: str, config_file: str | None, tz: str | None):
    """The version's own pipeline config, with the ``data`` section overridable (how the file is read)."""
    from factory.config import PipelineConfig, deep_merge, read_yaml

    raw = dict(saved.get("pipeline") or {"contract": contract})
    if config_file:
        over = read_yaml(config_file)
        over = over["pipeline"] if isinstance(over.get("pipeline"), dict) else over
        other = sorted(set(over) - {DATA_OVERRIDE_SECTION})
        if other:
            raise ConfigError(f"{Path(config_file).name}: only the '{DATA_OVERRIDE_SECTION}' section (how the file "
                              f"is read) can be overridden when evaluating a version; {other} belong to the version "
                              "and come from its own config")
        raw = deep_merge(raw, over)
    if tz:
        raw = deep_merge(raw, {"data": {"tz": tz}})
    return PipelineConfig.from_dict(raw, where=Path(config_file).name if config_file else "the version's config")


def build_heldout_dataset(bars: pd.DataFrame, bundle, label_config: dict[str, Any], pipeline) -> HeldoutDataset:
    """Inputs, labels, sample rows and regimes of ``bars`` for ``bundle``: nothing fitted, only applied."""
    from factory.contracts import CostModel
    from factory.labels import triple_barrier_labels
    from factory.packaging.model_inputs import HMM_PREFIX
    from factory.regimes import trend_regime, volatility_regime

    bars = bars.reset_index(drop=True)
    features = bundle.model_inputs(bars)
    # The labels pay the costs the version's labels paid: its own cost model, or none if it was trained without.
    label_cost = bundle.cost_model if label_config.get("include_costs", True) else CostModel.zero()
    labels = triple_barrier_labels(bars, float(label_config["k_up"]), float(label_config["k_down"]),
                                   int(label_config["horizon"]), cost_model=label_cost,
                                   atr_window=int(label_config["atr_window"]), path=label_config["path"],
                                   # versions from before the entry setting entered at the signal bar's close
                                   entry=label_config.get("entry", "close"))
    regimes = features.filter(like=HMM_PREFIX).astype(np.float64).reset_index(drop=True)
    # Terciles of this file's realised volatility (the training terciles are not stored; see the module docstring).
    regimes["vol_regime"] = volatility_regime(bars, pipeline.regimes.vol_window, None)
    regimes["trend_regime"] = trend_regime(bars, pipeline.regimes.trend_window)
    t1 = labels["t1"].to_numpy()
    feat_ok = np.isfinite(features.to_numpy()).all(axis=1)
    # A labelled bar counts once the model can read its whole input (the bundle's lookback, window included).
    sample_rows = np.flatnonzero((np.arange(len(bars)) >= bundle.lookback) & (t1 >= 0) & feat_ok)
    from factory.labels.barriers import BarrierDefinition

    barriers = BarrierDefinition(float(label_config["k_up"]), float(label_config["k_down"]),
                                 int(label_config["horizon"]), int(label_config["atr_window"]),
                                 float(label_cost.round_trip_points))
    return HeldoutDataset(bars, features, labels, sample_rows, regimes, pipeline, barriers)


def _overlap(bars: pd.DataFrame, sha256: str, meta: dict[str, Any]) -> int:
    """Bars of the file that are not held out from the version: all of them for its own data, else those up to
    the end of its test window (the end of the data it was trained and tested on)."""
    if sha256 and sha256 == meta.get("data_sha256"):
        return len(bars)
    end = (meta.get("test_window") or {}).get("end")
    if not end:
        return 0
    return int((pd.to_datetime(bars["timestamp"], utc=True) <= pd.Timestamp(end)).sum())


# ------------------------------------------------------------------------------------------------- output
def _fmt(value: Any, fmt: str) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return fmt.format(v) if math.isfinite(v) else "n/a"


def _train_numbers(mv, c) -> dict[str, Any]:
    """The version's tags overlaid with its train run's metrics: the tags are rounded to 4 significant digits,
    the run has the full numbers, which a side-by-side table with this file's numbers needs."""
    from mlflow.exceptions import MlflowException

    numbers: dict[str, Any] = dict(mv.tags)
    if mv.run_id:
        try:
            numbers.update(c.get_run(mv.run_id).data.metrics)
        except MlflowException:  # the train run was deleted: the rounded tags are what is left
            pass
    return numbers


def result_table(heldout: dict[str, float], version_tags: dict[str, str]) -> str:
    """Markdown table: the version's own held-out test numbers (from its tags) next to this file's."""
    lines = ["| Metric | Held-out test split (train run) | This file |", "|---|---:|---:|"]
    for key, label, fmt in TABLE_ROWS:
        lines.append(f"| {label} | {_fmt(version_tags.get(f'test_{key}'), fmt)} | "
                     f"{_fmt(heldout.get(f'heldout_{key}'), fmt)} |")
    return "\n".join(lines)


def run_evaluate_version(model_uri: str, data: str, contract: str | None = None, config_file: str | None = None,
                         tz: str | None = None, echo=print) -> EvaluateVersionResult:
    """Evaluate one registered version on a held-out bar file; see the module docstring."""
    if not data:
        raise ConfigError("evaluate needs --data FILE: the held-out bars to score the version on")
    # The version's files are downloaded to a folder that is removed afterwards, whatever happens.
    with tempfile.TemporaryDirectory(prefix="factory-evaluate-") as dst:
        return _evaluate(model_uri, data, contract, config_file, tz, echo, dst)


def _evaluate(model_uri, data, contract, config_file, tz, echo, dst) -> EvaluateVersionResult:
    import mlflow

    from factory.data.loading import load_bars
    from factory.evaluation import plots
    from factory.fitting import evaluate
    from factory.packaging.registry import client, get_version, set_version_tags

    resolved, local, meta, saved = _download_version(model_uri, dst)
    name, version = resolved.name, resolved.version
    own = str(meta["contract"]).upper()
    if contract and contract.strip().upper() != own:
        raise ConfigError(f"contract mismatch: {resolved.uri} was trained on {own}, not {contract.strip().upper()}; "
                          f"its costs and label barriers hold for {own} only")
    pipeline = _pipeline_config(saved, own, config_file, tz)
    if pipeline.contract.upper() != own:
        raise ConfigError(f"the version's saved config names contract {pipeline.contract}, its metadata {own}")
    loaded = load_bars(data, pipeline)
    bars = loaded.bars.reset_index(drop=True)
    label_config = meta["label_config"]
    horizon = int(label_config["horizon"])
    min_bars = int(meta["min_bars"])
    need = min_bars + horizon
    if len(bars) < need:
        raise FactoryError(f"{data} has {len(bars):,} bars; {resolved.uri} needs at least {need:,}: min_bars "
                           f"{min_bars} (its lookback + 1) plus its label horizon of {horizon} bars to score "
                           "one labelled bar")
    bundle = _load_bundle(local)
    if bundle.min_bars != min_bars:
        raise FactoryError(f"{resolved.uri}: the loaded model needs {bundle.min_bars} bars, its metadata says "
                           f"{min_bars} (code version mismatch)")
    ds = build_heldout_dataset(bars, bundle, label_config, pipeline)
    if len(ds.sample_rows) == 0:
        raise FactoryError(f"{data}: no bar after the model's lookback has a valid label; give a longer file")
    rows = np.arange(bundle.lookback, len(bars))
    ev = evaluate(ds, bundle, rows, ds.sample_rows, part="heldout")
    metrics = {f"heldout_{k}": float(v) for k, v in ev.metrics.items() if np.isfinite(v)}
    metrics["heldout_n_bars"] = float(len(rows))

    notes = []
    overlap = _overlap(bars, loaded.sha256, meta)
    if overlap:
        notes.append(f"warning: {overlap:,} of {len(bars):,} bars are not held out: they are the version's own data "
                     f"or lie at or before the end of its test window ({(meta.get('test_window') or {}).get('end')})")
    c = client()
    mv = get_version(name, version, c)
    table = result_table(metrics, _train_numbers(mv, c))
    from factory.tracking import clean_params, job_run, log_bars_input

    with job_run(own, "evaluate", f"evaluate-{name}-v{version}") as run:
        run_id = run.info.run_id
        # Held-out bars scored by a fitted version: an evaluation input, not training data.
        log_bars_input(bars, loaded.source, loaded.sha256, own, context="evaluation")
        mlflow.set_tags({
            "factory.entry_point": "evaluate",
            "factory.evaluated_model_uri": resolved.uri,
            "factory.evaluated_version": version,
            "factory.evaluated_name": name,
            "factory.contract": own,
            "factory.data_sha256": loaded.sha256,
            "heldout_overlap_bars": str(overlap),
            "heldout_vol_regime_thresholds": "heldout_file",
            "mlflow.note.content": f"Held-out evaluation of {resolved.uri} on {loaded.source} with the version's "
                                   f"own fitted pipeline, labels and costs (nothing refitted).\n\n{table}",
        })
        logged = mlflow.get_run(run_id).data.params
        params = {"model_uri": model_uri, "data": loaded.source, "data.sha256": loaded.sha256,
                  "label.k_up": label_config["k_up"], "label.k_down": label_config["k_down"],
                  "label.horizon": horizon}
        mlflow.log_params({k: v for k, v in clean_params(params).items() if k not in logged})
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "backtest").mkdir()
            ev.backtest.trades.to_csv(folder / "backtest" / "trades_heldout.csv", index=False)
            if ev.regimes is not None:
                ev.regimes.to_csv(folder / "backtest" / "regimes_heldout.csv", index=False)
            (folder / "plots").mkdir()
            plots.equity_curve_plot({"held-out": ev.backtest.equity}, folder / "plots" / "equity_curve_heldout.png",
                                    title=f"{name} v{version} on {Path(str(data)).name}: net P&L per contract")
            (folder / "heldout_summary.md").write_text(table + "\n")
            mlflow.log_artifacts(str(folder))
    set_version_tags(name, version, {"heldout_run_id": run_id}, c)
    for n in notes:
        echo(n)
    echo(f"{resolved.uri} on {loaded.source}: {len(rows):,} bars scored, {len(ds.sample_rows):,} labelled")
    echo(table)
    echo(f"run_id: {run_id}")
    return EvaluateVersionResult(run_id=run_id, name=name, version=version, model_uri=resolved.uri, metrics=metrics,
                                 n_bars=len(bars), overlap_bars=overlap, table=table, notes=notes)


def main(argv: list[str] | None = None) -> int:
    """``python -m factory.jobs.evaluate_version --model-uri URI --data FILE``; errors as one line, exit 2."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m factory.jobs.evaluate_version", description=__doc__.splitlines()[0])
    p.add_argument("--model-uri", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--contract", default=None)
    p.add_argument("--config", default=None)
    p.add_argument("--tz", default=None)
    args = p.parse_args(argv)
    try:
        run_evaluate_version(args.model_uri, args.data, contract=args.contract, config_file=args.config, tz=args.tz)
    except FactoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
