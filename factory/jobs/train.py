"""`mlflow run . -e train -P model=<key>` / `factory train --model <key>`: train, evaluate, log, register.

Steps (everything that can fail on bad input — config, data, model settings — fails before MLflow is touched):

1. create the model from its settings, validating them, and check what it needs from outside (``preflight``: a
   pretrained model's weights);
2. read the bars, choose the pipeline profile from their median interval (:mod:`factory.profiles`), resolve
   the configuration on it (:func:`factory.train_config.load_train_config`) and build the leakage-safe
   dataset exactly as ``-e pipeline`` does (``build_dataset``);
3. :func:`factory.fitting.fit_bundle`: fit on the training split (uniqueness sample weights, label spans for
   models that cross-validate inside), with the validation split as ``eval_set`` (early stopping), then
   calibrate the probabilities and fit the return distribution (labels' ``ret``) on the validation split;
4. :func:`factory.fitting.evaluate_part` on validation and test through the code the served pyfunc runs:
   scikit-learn classification metrics on labelled samples and a backtest of the signal over every bar of the
   segment with the contract's costs (:mod:`factory.evaluation.backtest`);
5. log params, metrics, plots, the bars (as an MLflow dataset input) and the pyfunc to one MLflow run in the
   ``<contract>-train`` experiment (:func:`factory.tracking.use_experiment`), register it as ``<contract>-<key>``
   and store the evaluation summary as a short set of rounded tags (and a Markdown table) on the new model
   version (:func:`factory.packaging.registry.version_number_tags`); the run keeps every number.

The config file format is described in :mod:`factory.train_config`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory.fitting import Evaluation
from factory.train_config import TrainConfig

PARTS = ("val", "test")
# What the two metric families are (run tags and description): the validation split chose the model's early
# stopping point, its calibration and return distribution, so its numbers are selection metrics, not out-of-sample.
SELECTION_NOTE = ("selection (validation: in-sample for model choice): used for early stopping, calibration and the "
                  "return distribution; not out-of-sample")
HELDOUT_NOTE = "held-out test: the chronological test split, untouched by fitting, calibration or model choice"
RUN_NOTE = ("Train run of {key} on {contract}.\n\n"
            "- `val_*` metrics are **selection** metrics (validation: in-sample for model choice): the validation "
            "split drove early stopping, calibration and the return distribution, so they are not out-of-sample.\n"
            "- `test_*` metrics are **held-out test** metrics: the chronological test split, after the embargo, "
            "used by nothing that was fitted or chosen.")


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

    @property
    def mlflow_serve_command(self) -> str:
        from factory.packaging.registry import mlflow_serve_command

        return mlflow_serve_command(self.name, self.version)


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
    history = getattr(bundle.model, "history_", None)
    if history:
        plots.training_curve_plot(history, folder / "training_curve.png", getattr(bundle.model, "best_epoch_", None),
                                  title=f"{bundle.model.key}: loss per epoch")


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


def _log_training_history(model) -> None:
    """Per-epoch losses of models that train by epochs (``history_``), as MLflow step metrics ``epoch_*``."""
    import mlflow

    for row in getattr(model, "history_", None) or []:
        values = {f"epoch_{k}": float(v) for k, v in row.items() if k != "epoch" and np.isfinite(v)}
        mlflow.log_metrics(values, step=int(row["epoch"]))
    best = getattr(model, "best_epoch_", None)
    if best is not None:
        mlflow.log_metric("best_epoch", float(best))


def per_bar_sharpe(pnl) -> tuple[float, int]:
    """``(mean / std of the per-bar net P&L, number of bars)``; the Sharpe is NaN for a constant series."""
    pnl = np.asarray(pnl, dtype=np.float64)
    sd = float(np.std(pnl, ddof=1)) if len(pnl) > 2 else 0.0
    return (float(np.mean(pnl)) / sd if sd > 0 else float("nan")), int(len(pnl))


def version_tags(dataset, loaded, evals: dict[str, Evaluation], run_id: str, key: str) -> dict[str, Any]:
    """What promotion reads: evaluation numbers plus the identity of the data and test window they hold for."""
    from factory.packaging.metadata import git_commit

    b = dataset.split.boundaries
    ts = dataset.bars["timestamp"]
    tags: dict[str, Any] = {f"{p}_{k}": v for p, ev in evals.items() for k, v in ev.metrics.items()}
    for p, ev in evals.items():
        # The deflated champion comparison (factory.jobs.promote) works on the per-bar Sharpe and its sample size:
        # the annualised number hides how many bars it rests on.
        tags[f"{p}_sharpe_per_bar"], tags[f"{p}_n_bars"] = per_bar_sharpe(ev.backtest.pnl)
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
              echo=print, profile: str | None = None) -> TrainResult:
    """Train, evaluate, log and register one model; see the module docstring. Returns the run and version.

    ``profile``: the pipeline profile (``1min``, ``5min``, ``1h``, ``1d``); None or ``auto`` chooses it from
    the data's median bar interval (:mod:`factory.profiles`).
    """
    from factory.dataset import build_dataset
    from factory.fitting import evaluate_part, fit_bundle
    from factory.models import create_model
    from factory.packaging.registry import registered_name as default_name
    from factory.profiles import load_profiled_bars
    from factory.train_config import load_model_settings, load_train_config

    settings, _ = load_model_settings(model, config_file)
    estimator = create_model(model, **settings.model_dump(mode="json"))
    # What the model needs from outside (pretrained weights) is checked before any data is read or run logged.
    estimator.preflight()
    # The profile depends on the bars' interval, so the bars are read first (with the reading settings only).
    loaded, choice = load_profiled_bars(data, contract, config_file, tz, profile=profile)
    tc = load_train_config(model, config_file, contract, tz, profile=choice)
    echo(choice.line())
    name = registered_name or default_name(tc.pipeline.contract, tc.model_key)
    dataset = build_dataset(loaded.bars, tc.pipeline, progress=progress)
    echo(f"dataset: {len(dataset.bars):,} bars, {dataset.features.shape[1]} inputs, "
         f"train {len(dataset.split.train):,} / val {len(dataset.split.val):,} / test {len(dataset.split.test):,}")
    bundle = fit_bundle(dataset, estimator, training=tc.training)
    evals = {p: evaluate_part(dataset, bundle, p) for p in PARTS}
    return _log_and_register(tc, name, loaded, dataset, bundle, evals, choice)


def _log_and_register(tc: TrainConfig, name: str, loaded, dataset, bundle, evals: dict[str, Evaluation],
                      choice) -> TrainResult:
    """One MLflow run with params, metrics, plots, trades and the pyfunc; then a registered, tagged version."""
    import mlflow

    from factory.packaging.log_model import log_pyfunc
    from factory.packaging.metadata import model_metadata
    from factory.packaging.reference import reference_and_null
    from factory.packaging.registry import (
        client, description_table, register, set_version_tags, version_number_tags,
    )
    from factory.profiles import profile_params, profile_tags
    from factory.tracking import clean_params, job_run, log_bars_input

    reference, null_sample = reference_and_null(dataset.features, dataset.bars["timestamp"], dataset.rows("train"),
                                                tc.training.reference_rows, tc.training.null_rows,
                                                tc.training.null_segments)
    lc = tc.pipeline.labels
    label_config = {**{k: (int(v) if k == "horizon" else float(v)) for k, v in dataset.barriers.items()},
                    "atr_window": lc.atr_window, "path": lc.path, "entry": lc.entry,
                    "include_costs": lc.include_costs}
    with job_run(tc.pipeline.contract, "train", f"train-{name}") as run:
        run_id = run.info.run_id
        log_bars_input(dataset.bars, loaded.source, loaded.sha256, tc.pipeline.contract, context="training")
        tags = version_tags(dataset, loaded, evals, run_id, tc.model_key)
        mlflow.set_tags({"factory.entry_point": "train", "factory.contract": tc.pipeline.contract,
                         "factory.model": tc.model_key, "factory.data_sha256": loaded.sha256,
                         "factory.metrics.val": SELECTION_NOTE, "factory.metrics.test": HELDOUT_NOTE,
                         "mlflow.note.content": RUN_NOTE.format(key=tc.model_key, contract=tc.pipeline.contract),
                         **profile_tags(choice)})
        params = tc.params()
        params.update({"data.source": loaded.source, "data.sha256": loaded.sha256, "registry.name": name,
                       **profile_params(choice)})
        # `mlflow run` has already logged the entry point's own parameters; MLflow refuses to change a param.
        logged = mlflow.get_run(run_id).data.params
        mlflow.log_params({k: v for k, v in clean_params(params).items() if k not in logged})
        metrics = {f"{p}_{k}": v for p, ev in evals.items() for k, v in ev.metrics.items() if np.isfinite(v)}
        # The per-bar Sharpe and its bar count at full precision (the version's tags are rounded).
        metrics.update({f"{p}_{k}": float(tags[f"{p}_{k}"]) for p in evals for k in ("sharpe_per_bar", "n_bars")
                        if np.isfinite(tags[f"{p}_{k}"])})
        mlflow.log_metrics({**dataset.summary(), **metrics})
        _log_training_history(bundle.model)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "plots").mkdir()
            _plots(bundle, evals, folder / "plots")
            _importance(bundle, dataset, folder)
            (folder / "backtest").mkdir()
            for p, ev in evals.items():
                ev.backtest.trades.to_csv(folder / "backtest" / f"trades_{p}.csv", index=False)
                if ev.regimes is not None:  # net Sharpe, P&L and exposure per volatility / trend / HMM regime
                    ev.regimes.to_csv(folder / "backtest" / f"regimes_{p}.csv", index=False)
            mlflow.log_artifacts(str(folder))
        meta = model_metadata(bundle, data_sha256=loaded.sha256, label_config=label_config, extra={
            "registered_name": name,
            "test_window": {"start_row": tags["test_start_row"], "end_row": tags["test_end_row"],
                            "start": tags["test_start"], "end": tags["test_end"]},
        })
        config = {**tc.as_dict(), "barriers": label_config, "data": {"source": loaded.source,
                                                                     "sha256": loaded.sha256}}
        info = log_pyfunc(bundle, bars=dataset.bars, reference=reference, null_sample=null_sample, config=config,
                          metadata=meta)
        version = str(register(info.model_uri, name).version)
        # A short, rounded set on the version (what promotion and users filter on); the run has every number.
        set_version_tags(name, version, version_number_tags(tags))
        client().update_model_version(name, version, description=description_table(
            tags, title=f"{tc.model_key} on {tc.pipeline.contract} (run {run_id})"))
    return TrainResult(run_id=run_id, name=name, version=version, model_uri=f"models:/{name}/{version}",
                       metrics=metrics)
