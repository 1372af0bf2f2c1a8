"""`mlflow run . -e train -P model=<key>` / `factory train --model <key>`: train, evaluate, log, register.

Steps (everything that can fail on bad input — config, data, model settings — fails before MLflow is touched):

1. resolve the configuration (:func:`load_train_config`) and create the model, validating its settings;
2. build the leakage-safe dataset exactly as ``-e pipeline`` does (``load_bars`` + ``build_dataset``);
3. fit on the training split (uniqueness sample weights, label spans for models that cross-validate inside),
   with the validation split as ``eval_set`` (early stopping);
4. calibrate the probabilities and fit the return distribution (labels' ``ret``) on the validation split, which
   the model has only used to stop early;
5. evaluate on validation and test through :class:`~factory.packaging.bundle.ModelBundle` (the code the served
   pyfunc runs): scikit-learn classification metrics on labelled samples and a backtest of the signal over every
   bar of the segment with the contract's costs (:mod:`factory.evaluation.backtest`);
6. log params, metrics, plots and the pyfunc to one MLflow run, register it as ``<contract>-<key>`` and store
   the evaluation numbers as tags (and a Markdown table) on the new model version.

Config file (``-P config=FILE``): either a flat mapping of pipeline overrides (the ``-e pipeline`` format) or
sections::

    pipeline: {...}        # overrides of mlproject/pipeline.yaml
    model: {...}           # settings of the model being trained (overrides mlproject/models/<key>.yaml)
    models: {<key>: {...}} # per-key settings, so one file serves several models; `model:` wins over it
    training: {calibration: isotonic, reference_rows: 5000}
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from factory._config_base import StrictConfig
from factory.errors import ConfigError, FactoryError

SECTIONS = ("pipeline", "model", "models", "training")
PARTS = ("val", "test")


class TrainingConfig(StrictConfig):
    """Settings of the train step itself."""

    # Post-hoc calibration fitted on the validation split: "isotonic" or "sigmoid" (Platt).
    calibration: Literal["isotonic", "sigmoid"] = "isotonic"
    # Training rows kept inside the model as the drift monitor's reference sample.
    reference_rows: int = Field(5_000, ge=100)


@dataclass
class TrainConfig:
    """The resolved configuration of one train run."""

    model_key: str
    pipeline: Any  # PipelineConfig
    model: Any  # the model's typed Config
    training: TrainingConfig
    source: str = "defaults"

    def as_dict(self) -> dict[str, Any]:
        return {"model_key": self.model_key, "pipeline": self.pipeline.model_dump(mode="json"),
                "model": self.model.model_dump(mode="json"), "training": self.training.model_dump(mode="json")}

    def params(self) -> dict[str, Any]:
        """Flat ``section.key -> value`` params for MLflow (lists and dicts as JSON)."""
        out: dict[str, Any] = {"model.key": self.model_key}
        out.update(self.pipeline.flat())
        out.update({f"model.{k}": v for k, v in self.model.model_dump(mode="json").items()})
        out.update({f"training.{k}": v for k, v in self.training.model_dump(mode="json").items()})
        return {k: (json.dumps(v) if isinstance(v, (list, tuple, dict)) else v) for k, v in out.items()}


def load_train_config(model_key: str, config_file: str | None = None, contract: str | None = None,
                      tz: str | None = None) -> TrainConfig:
    """Resolve pipeline, model and training settings; see the module docstring for the file format."""
    from factory.config import deep_merge, read_yaml
    from factory.models import get_model_class, load_model_config
    from factory.pipeline_run import resolve_config

    get_model_class(model_key)  # an unknown key fails first, listing the known ones
    raw = read_yaml(config_file) if config_file else {}
    name = Path(config_file).name if config_file else ""
    sectioned = any(k in raw for k in SECTIONS)
    if sectioned:
        unknown = sorted(set(raw) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"{name}: unknown top-level key(s) {unknown}; a train config holds the sections "
                              f"{', '.join(SECTIONS)}")
        for key in SECTIONS:
            if raw.get(key) is not None and not isinstance(raw[key], dict):
                raise ConfigError(f"{name}: section '{key}' must be a mapping")
    # resolve_config reads a `pipeline:` section itself, or the whole file when it has no sections.
    pipeline_file = config_file if (not sectioned or isinstance(raw.get("pipeline"), dict)) else None
    pipeline = resolve_config(contract, pipeline_file, tz)
    model_over: dict[str, Any] = {}
    if sectioned:
        per_key = raw.get("models") or {}
        if not all(isinstance(v, dict) for v in per_key.values()):
            raise ConfigError(f"{name}: 'models' maps model keys to mappings of settings")
        model_over = deep_merge(per_key.get(model_key) or {}, raw.get("model") or {})
    try:
        model_cfg = load_model_config(model_key, overrides=model_over)
    except ConfigError as exc:
        raise ConfigError(f"{name or 'model settings'}: {exc}") from None
    training = TrainingConfig.from_dict(raw.get("training") if sectioned else {},
                                        where=f"{name or 'train config'}.training")
    return TrainConfig(model_key, pipeline, model_cfg, training, source=name or "defaults")


@dataclass
class Evaluation:
    """Outputs and numbers of one split part."""

    part: str
    outputs: pd.DataFrame  # pyfunc outputs for every bar of the segment
    sample_pos: np.ndarray  # positions of labelled samples within `outputs`
    y: np.ndarray
    raw_proba: np.ndarray
    backtest: Any
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    run_id: str
    name: str
    version: str
    model_uri: str
    metrics: dict[str, float]

    @property
    def serve_command(self) -> str:
        from factory.packaging.registry import serve_command

        return serve_command(self.name, self.version)


# ----------------------------------------------------------------------------------------------------- fitting
def fit_bundle(dataset, model, training: TrainingConfig):
    """Fit ``model`` on the dataset's training split, then calibration and returns on validation."""
    from factory.contracts import get_contract
    from factory.models.calibration import ProbabilityCalibrator
    from factory.models.returns import ReturnDistribution
    from factory.packaging.bundle import RETURN_QUANTILES, ModelBundle

    X_tr, y_tr = dataset.xy("train")
    X_val, y_val = dataset.xy("val")
    if len(y_val) == 0 or len(y_tr) == 0:
        raise FactoryError("the training or validation split is empty: give more bars or smaller embargo/purge")
    t1 = dataset.labels["t1"].to_numpy()
    train_rows = dataset.rows("train")
    model.fit(X_tr, y_tr, dataset.weights[dataset.split.train],
              eval_set=(X_val, y_val, dataset.weights[dataset.split.val]), t0=train_rows, t1=t1[train_rows])
    calibrator = ProbabilityCalibrator(training.calibration).fit(model.predict_proba(X_val), y_val)
    ret = dataset.labels["ret"].to_numpy()[dataset.rows("val")]
    returns = ReturnDistribution(RETURN_QUANTILES).fit(ret, y_val)
    # Signals and backtests always pay the contract's real costs, even if the labels were built without them.
    cost = get_contract(dataset.config.contract).cost_model()
    bundle = ModelBundle(dataset.feature_pipeline, dataset.hmm, model, calibrator, returns, cost,
                         contract=dataset.config.contract, horizon_bars=int(dataset.barriers["horizon"]))
    if bundle.input_names != list(dataset.features.columns):
        raise FactoryError("the served model inputs differ from the dataset's features; the pyfunc would not "
                           "reproduce training")
    return bundle


def segment(dataset, part: str) -> np.ndarray:
    """Every bar row of the validation or test segment (``[val_start, val_end)`` / ``[test_start, end)``)."""
    b = dataset.split.boundaries
    return np.arange(b.val_start, b.val_end) if part == "val" else np.arange(b.test_start, b.end)


def evaluate(dataset, bundle, part: str) -> Evaluation:
    """Pyfunc outputs over the whole segment; classification metrics on its labelled samples; a backtest."""
    from factory.evaluation.backtest import backtest
    from factory.evaluation.metrics import classification_metrics

    rows = segment(dataset, part)
    bars = dataset.bars
    inputs = dataset.features.iloc[rows]
    outputs = bundle.predict_inputs(inputs, bars["close"].to_numpy()[rows], bars["timestamp"].iloc[rows])
    samples = dataset.rows(part)
    pos = samples - rows[0]
    y = dataset.labels["label"].to_numpy()[samples].astype(np.int64)
    proba = outputs[["prob_down", "prob_flat", "prob_up"]].to_numpy()[pos]
    raw = bundle.model.predict_proba(inputs.iloc[pos])
    bt = backtest(bars["close"].to_numpy()[rows], outputs["signal"].to_numpy(), bars["timestamp"].iloc[rows],
                  bundle.horizon_bars, bundle.cost_model)
    metrics = classification_metrics(y, proba)
    metrics["log_loss_uncalibrated"] = classification_metrics(y, raw)["log_loss"]
    metrics.update(bt.metrics)
    metrics["n_samples"] = float(len(y))
    metrics["signal_long_share"] = float(np.mean(outputs["signal"] == 1))
    metrics["signal_short_share"] = float(np.mean(outputs["signal"] == -1))
    return Evaluation(part, outputs, pos, y, raw, bt, metrics)


# ----------------------------------------------------------------------------------------------------- logging
def _plots(bundle, evals: dict[str, Evaluation], folder: Path) -> None:
    from factory.evaluation import plots

    for part, ev in evals.items():
        proba = ev.outputs[["prob_down", "prob_flat", "prob_up"]].to_numpy()[ev.sample_pos]
        pred = np.array([-1, 0, 1])[proba.argmax(axis=1)]
        plots.confusion_matrix_plot(ev.y, pred, folder / f"confusion_matrix_{part}.png",
                                    title=f"Confusion matrix ({part})")
        plots.calibration_plot(ev.y, proba, folder / f"calibration_{part}.png", title=f"Calibration ({part})")
    plots.equity_curve_plot({p: ev.backtest.equity for p, ev in evals.items()}, folder / "equity_curve.png",
                            title=f"{bundle.contract} {bundle.model.key}: net P&L per contract")
    importance = getattr(bundle.model, "feature_importance", None)
    if callable(importance):
        plots.feature_importance_plot(importance(), folder / "feature_importance.png")


def _importance(bundle, dataset, folder: Path, max_rows: int = 2000) -> None:
    """Gain importance and mean |SHAP| on test rows (native TreeSHAP), as CSV tables and a plot.

    SHAP is computed on at most ``max_rows`` test rows spread evenly over the test split (TreeSHAP costs grow
    with rows x trees x leaves); the mean absolute contribution is summed over the three classes.
    """
    from factory.evaluation import plots

    model = bundle.model
    out = folder / "importance"
    if callable(getattr(model, "feature_importance", None)):
        out.mkdir(exist_ok=True)
        model.feature_importance().rename("gain").to_csv(out / "gain.csv", index_label="feature")
    if callable(getattr(model, "shap_values", None)):
        rows = dataset.rows("test")
        rows = rows[np.linspace(0, len(rows) - 1, min(max_rows, len(rows))).astype(int)]
        X = dataset.features.iloc[rows]
        contrib = model.shap_values(X)[:, :, :-1]  # (n, 3, F) without the bias column
        mean_abs = pd.Series(np.abs(contrib).mean(axis=0).sum(axis=0), index=X.columns, name="mean |SHAP|")
        out.mkdir(exist_ok=True)
        mean_abs.sort_values(ascending=False).to_csv(out / "shap_mean_abs.csv", index_label="feature")
        plots.feature_importance_plot(mean_abs, folder / "plots" / "shap_importance.png",
                                      title=f"Mean |SHAP| on {len(rows):,} test rows (summed over classes)")


def version_tags(dataset, loaded, evals: dict[str, Evaluation], run_id: str, key: str) -> dict[str, Any]:
    """What promotion reads: evaluation numbers plus the identity of the data and test window they hold for."""
    from factory.packaging.metadata import git_commit

    b = dataset.split.boundaries
    ts = dataset.bars["timestamp"]
    tags: dict[str, Any] = {f"{p}_{k}": v for p, ev in evals.items() for k, v in ev.metrics.items()}
    tags.update({
        "factory_model": key,
        "contract": dataset.config.contract,
        "data_sha256": loaded.sha256,
        "test_start_row": b.test_start,
        "test_end_row": b.end,
        "test_start": pd.Timestamp(ts.iloc[b.test_start]).isoformat(),
        "test_end": pd.Timestamp(ts.iloc[b.end - 1]).isoformat(),
        "run_id": run_id,
        "git_commit": git_commit(),
    })
    return tags


def run_train(model: str, data: str | None = None, contract: str | None = None, config_file: str | None = None,
              tz: str | None = None, registered_name: str | None = None, progress: bool = True,
              echo=print) -> TrainResult:
    """Train, evaluate, log and register one model; see the module docstring. Returns the run and version."""
    from factory.dataset import build_dataset
    from factory.models import create_model
    from factory.packaging.registry import registered_name as default_name
    from factory.pipeline_run import load_bars

    tc = load_train_config(model, config_file, contract, tz)
    estimator = create_model(tc.model_key, **tc.model.model_dump(mode="json"))
    if estimator.input_kind != "tabular":
        raise FactoryError(f"model '{tc.model_key}' takes '{estimator.input_kind}' input; the train step packages "
                           "tabular models only so far")
    name = registered_name or default_name(tc.pipeline.contract, tc.model_key)
    loaded = load_bars(data, tc.pipeline)
    dataset = build_dataset(loaded.bars, tc.pipeline, progress=progress)
    echo(f"dataset: {len(dataset.bars):,} bars, {dataset.features.shape[1]} inputs, "
         f"train {len(dataset.split.train):,} / val {len(dataset.split.val):,} / test {len(dataset.split.test):,}")
    bundle = fit_bundle(dataset, estimator, tc.training)
    evals = {p: evaluate(dataset, bundle, p) for p in PARTS}
    return _log_and_register(tc, name, loaded, dataset, bundle, evals)


def _log_and_register(tc: TrainConfig, name: str, loaded, dataset, bundle, evals: dict[str, Evaluation]
                      ) -> TrainResult:
    """One MLflow run with params, metrics, plots, trades and the pyfunc; then a registered, tagged version."""
    import mlflow

    from factory.packaging.log_model import log_pyfunc
    from factory.packaging.metadata import model_metadata
    from factory.packaging.reference import reference_sample
    from factory.packaging.registry import client, description_table, register, set_version_tags

    reference = reference_sample(dataset.features, dataset.bars["timestamp"], dataset.rows("train"),
                                 tc.training.reference_rows)
    lc = tc.pipeline.labels
    label_config = {**{k: (int(v) if k == "horizon" else float(v)) for k, v in dataset.barriers.items()},
                    "atr_window": lc.atr_window, "path": lc.path, "include_costs": lc.include_costs}
    with mlflow.start_run(run_name=f"train-{name}") as run:
        run_id = run.info.run_id
        tags = version_tags(dataset, loaded, evals, run_id, tc.model_key)
        mlflow.set_tags({"factory.entry_point": "train", "factory.contract": tc.pipeline.contract,
                         "factory.model": tc.model_key, "factory.data_sha256": loaded.sha256})
        params = tc.params()
        params.update({"data.source": loaded.source, "data.sha256": loaded.sha256, "registry.name": name})
        # `mlflow run` has already logged the entry point's own parameters; MLflow refuses to change a param.
        logged = mlflow.get_run(run_id).data.params
        mlflow.log_params({k: v for k, v in params.items() if k not in logged})
        metrics = {f"{p}_{k}": v for p, ev in evals.items() for k, v in ev.metrics.items() if np.isfinite(v)}
        mlflow.log_metrics({**dataset.summary(), **metrics})
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "plots").mkdir()
            _plots(bundle, evals, folder / "plots")
            _importance(bundle, dataset, folder)
            (folder / "backtest").mkdir()
            for p, ev in evals.items():
                ev.backtest.trades.to_csv(folder / "backtest" / f"trades_{p}.csv", index=False)
            mlflow.log_artifacts(str(folder))
        meta = model_metadata(bundle, data_sha256=loaded.sha256, label_config=label_config, extra={
            "registered_name": name,
            "test_window": {"start_row": tags["test_start_row"], "end_row": tags["test_end_row"],
                            "start": tags["test_start"], "end": tags["test_end"]},
        })
        config = {**tc.as_dict(), "barriers": label_config, "data": {"source": loaded.source,
                                                                     "sha256": loaded.sha256}}
        info = log_pyfunc(bundle, bars=dataset.bars, reference=reference, config=config, metadata=meta)
        version = str(register(info.model_uri, name).version)
        set_version_tags(name, version, tags)
        client().update_model_version(name, version, description=description_table(
            tags, title=f"{tc.model_key} on {tc.pipeline.contract} (run {run_id})"))
    return TrainResult(run_id=run_id, name=name, version=version, model_uri=f"models:/{name}/{version}",
                       metrics=metrics)
