"""`mlflow run . -e pipeline` / `factory pipeline`: build the dataset and log it to MLflow."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from factory.config import PipelineConfig, load_pipeline_config


@dataclass
class LoadedData:
    bars: pd.DataFrame
    source: str
    sha256: str
    warnings: list


def data_calendar(config: PipelineConfig):
    """The exchange calendar of the configured contract, or None when calendar checks are switched off."""
    if not config.data.session_calendar:
        return None
    from factory.contracts import get_contract
    from factory.data.sessions import get_calendar

    return get_calendar(get_contract(config.contract).session)


def load_bars(data: str | None, config: PipelineConfig) -> LoadedData:
    """Read and validate ``data`` (or generate the embedded default), then resample if configured."""
    from factory.data.fingerprint import bars_sha256
    from factory.data.validation import check_bars

    cal = data_calendar(config)
    if data:
        from factory.data.io import read_bars

        bars, warnings = read_bars(data, tz=config.data.tz, gap_factor=config.data.gap_factor, calendar=cal,
                                   return_warnings=True)
        source = str(data)
    else:
        from factory.data.default import DEFAULT_N_BARS, DEFAULT_SEED, default_bars

        bars, warnings = default_bars(), []
        source = f"synthetic MES 1-minute bars (n={DEFAULT_N_BARS}, seed={DEFAULT_SEED})"
    if config.data.resample:
        from factory.data.resample import resample_bars

        bars = resample_bars(bars, config.data.resample, calendar=cal)
        warnings = check_bars(bars, gap_factor=config.data.gap_factor, calendar=cal)
    return LoadedData(bars=bars, source=source, sha256=bars_sha256(bars), warnings=warnings)


def resolve_config(contract: str | None = None, config_file: str | None = None, tz: str | None = None,
                   overrides: dict[str, Any] | None = None) -> PipelineConfig:
    over: dict[str, Any] = dict(overrides or {})
    if contract:
        over["contract"] = contract.upper()
    if tz:
        over.setdefault("data", {})["tz"] = tz
    return load_pipeline_config(config_file or None, over)


def run_pipeline(data: str | None = None, contract: str | None = None, config_file: str | None = None,
                 tz: str | None = None, progress: bool = True, overrides: dict[str, Any] | None = None):
    """Build the dataset and log params, statistics and artifacts to an MLflow run.

    Everything that can fail on bad input (config, reading, validation) fails before a run is started, so a
    bad file never leaves a half-logged run behind. Returns ``(run_id, dataset)``.
    """
    import mlflow
    import yaml

    from factory.data.profile import profile_bars, profile_html
    from factory.dataset import build_dataset
    from factory.evaluation.plots import label_balance_plot, regime_plot

    config = resolve_config(contract, config_file, tz, overrides)
    loaded = load_bars(data, config)
    dataset = build_dataset(loaded.bars, config, progress=progress)

    with mlflow.start_run(run_name=f"pipeline-{config.contract.lower()}") as run:
        mlflow.set_tags({"factory.entry_point": "pipeline", "factory.contract": config.contract,
                         "factory.data_sha256": loaded.sha256})
        params = {k: (json.dumps(v) if isinstance(v, (list, tuple)) else v) for k, v in config.flat().items()}
        params.update({"data.source": loaded.source, "data.sha256": loaded.sha256})
        # `mlflow run` has already logged the entry point's own parameters; MLflow refuses to change a param.
        logged = mlflow.get_run(run.info.run_id).data.params
        mlflow.log_params({k: v for k, v in params.items() if k not in logged})
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
