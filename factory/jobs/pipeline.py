"""`mlflow run . -e pipeline` / `factory pipeline`: build the dataset and log it to MLflow."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from factory.config import resolve_config
from factory.profiles import load_profiled_bars, profile_params, profile_tags


def run_pipeline(data: str | None = None, contract: str | None = None, config_file: str | None = None,
                 tz: str | None = None, progress: bool = True, overrides: dict[str, Any] | None = None,
                 profile: str | None = None, echo=print):
    """Build the dataset and log params, statistics and artifacts to an MLflow run.

    ``profile``: the pipeline profile; None or ``auto`` chooses it from the bars (:mod:`factory.profiles`).

    Everything that can fail on bad input (config, reading, validation) fails before a run is started, so a
    bad file never leaves a half-logged run behind. Returns ``(run_id, dataset)``.
    """
    import mlflow
    import yaml

    from factory.data.profile import profile_bars, profile_html
    from factory.dataset import build_dataset
    from factory.evaluation.plots import label_balance_plot, regime_plot
    from factory.tracking import clean_params, job_run, log_bars_input

    # The profile depends on the bars' interval, so the bars are read first (with the reading settings only).
    loaded, choice = load_profiled_bars(data, contract, config_file, tz, overrides, profile=profile)
    config = resolve_config(contract, config_file, tz, overrides, profile=choice)
    echo(choice.line())
    dataset = build_dataset(loaded.bars, config, progress=progress)

    with job_run(config.contract, "pipeline", f"pipeline-{config.contract.lower()}") as run:
        log_bars_input(loaded.bars, loaded.source, loaded.sha256, config.contract, context="training")
        mlflow.set_tags({"factory.entry_point": "pipeline", "factory.contract": config.contract,
                         "factory.data_sha256": loaded.sha256, **profile_tags(choice)})
        params = {k: (json.dumps(v) if isinstance(v, (list, tuple)) else v) for k, v in config.flat().items()}
        params.update({"data.source": loaded.source, "data.sha256": loaded.sha256, **profile_params(choice)})
        # `mlflow run` has already logged the entry point's own parameters; MLflow refuses to change a param.
        logged = mlflow.get_run(run.info.run_id).data.params
        mlflow.log_params({k: v for k, v in clean_params(params).items() if k not in logged})
        mlflow.log_metrics(dataset.summary())
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            profile = profile_bars(loaded.bars, loaded.warnings + dataset.warnings)
            (tmp / "data_profile.json").write_text(json.dumps(profile, indent=2))
            (tmp / "data_profile.html").write_text(profile_html(profile, f"Data profile: {loaded.source}"))
            (tmp / "resolved_config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
            (tmp / "barriers.json").write_text(json.dumps(dataset.barriers, indent=2))
            (tmp / "split_summary.json").write_text(json.dumps(_jsonable(dataset.split.summary()), indent=2))
            labels = dataset.labels["label"].to_numpy()
            label_balance_plot(labels, {p: dataset.rows(p) for p in ("train", "val", "test")},
                               tmp / "label_balance.png")
            probs = dataset.regimes[[c for c in dataset.regimes.columns if c.startswith("hmm_p")]].to_numpy()
            regime_plot(dataset.bars["timestamp"], dataset.bars["close"].to_numpy(), probs,
                        tmp / "regime_plot.png", train_end=dataset.train_end)
            mlflow.log_artifacts(str(tmp), artifact_path="dataset")
        return run.info.run_id, dataset


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
