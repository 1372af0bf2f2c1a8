"""What the logged pyfunc says about itself: MLmodel ``metadata`` and explicit pip requirements."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from factory.packaging.bundle import OUTPUT_COLUMNS

PROJECT_DIR = Path(__file__).resolve().parents[2]

# Import names every served model needs (the pipeline, the HMM filter, calibration, MLflow itself); each model
# adds its own (``FactoryModel.requirements``, members' included for ensembles).
BASE_IMPORTS = ("mlflow", "numpy", "pandas", "pyarrow", "scipy", "sklearn", "numba", "hmmlearn", "pydantic", "yaml")


def git_commit(path: str | Path = PROJECT_DIR) -> str:
    """Commit of the code that trained the model (``-dirty`` when tracked files were modified), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                               capture_output=True, text=True, timeout=10)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def model_keys(model) -> list[str]:
    """The model's key and, for ensembles, those of its members and meta-learner (sorted, unique)."""
    keys = {model.key}
    settings = model.get_params()
    keys.update(settings.get("members") or [])
    if settings.get("meta"):
        keys.add(settings["meta"])
    return sorted(keys)


def _distribution(import_name: str) -> tuple[str, str] | None:
    import importlib.metadata as md

    dists = md.packages_distributions().get(import_name) or []
    if not dists:
        return None
    # Prefer the distribution named like the module (mlflow, not mlflow-skinny); else the first one.
    name = next((d for d in dists if d.lower() == import_name.lower()), dists[0])
    return name, md.version(name)


def pip_requirements(model) -> list[str]:
    """Pinned requirements of the installed versions of everything the served model imports."""
    imports = list(BASE_IMPORTS) + sorted(set(model.import_names()) - set(BASE_IMPORTS))
    out: list[str] = []
    for name in imports:
        dist = _distribution(name)
        if dist and f"{dist[0]}=={dist[1]}" not in out:
            out.append(f"{dist[0]}=={dist[1]}")
    return out


def model_metadata(bundle, *, data_sha256: str, label_config: dict[str, Any], extra: dict[str, Any] | None = None,
                   ) -> dict[str, Any]:
    """The MLmodel ``metadata`` block (plain JSON values)."""
    from factory import __version__

    model = bundle.model
    cost = bundle.cost_model
    meta = {
        "factory_model": model.key,
        "family": model.family,
        "model_keys": model_keys(model),
        "min_bars": bundle.min_bars,
        "lookback_bars": bundle.lookback,
        "input_lookback_bars": bundle.input_lookback,
        "input_kind": model.input_kind,
        "window_length": model.window_length,
        "warmup_bars": bundle.warmup_bars,
        "horizon_bars": bundle.horizon_bars,
        "contract": bundle.contract,
        "feature_names": bundle.input_names,
        "data_sha256": data_sha256,
        "git_commit": git_commit(),
        "factory_version": __version__,
        "cost_model": {**cost.model_dump(mode="json"), "round_trip_usd": cost.round_trip_usd,
                       "round_trip_points": cost.round_trip_points},
        "label_config": label_config,
        "is_production_safe": bool(model.is_production_safe),
        "output_columns": list(OUTPUT_COLUMNS),
        "signal_rule": bundle.info()["signal_rule"],
        "calibration": bundle.calibrator.method,
    }
    meta.update(extra or {})
    return meta
