"""Log a :class:`~factory.packaging.bundle.ModelBundle` to the active MLflow run as a self-contained pyfunc.

"Models from code": MLflow stores ``model_code.py`` (which names :class:`FactoryPyfunc`) instead of a pickle,
plus the ``factory`` and ``serving`` packages' source (``code_paths``) so the model loads wherever its pinned
requirements are installed, and every fitted part as an artifact in a native or JSON format.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from factory.packaging.bundle import ModelBundle
from factory.packaging.metadata import PROJECT_DIR, pip_requirements
from factory.packaging.pyfunc import EXAMPLE_ARTIFACT
from factory.packaging.reference import NULL_ARTIFACT, write_reference
from factory.packaging.schema import input_example, model_signature

MODEL_CODE = Path(__file__).with_name("model_code.py")
CODE_PACKAGES = ("factory", "serving")


def _copy_sources(dest: Path) -> list[str]:
    """Python sources of the packages the pyfunc imports (no caches, no compiled files)."""
    out = []
    for pkg in CODE_PACKAGES:
        src = PROJECT_DIR / pkg
        shutil.copytree(src, dest / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc"))
        out.append(str(dest / pkg))
    return out


@contextmanager
def _pyfunc_kwargs(bundle: ModelBundle, bars: pd.DataFrame, reference: pd.DataFrame, config: dict[str, Any],
                   metadata: dict[str, Any], null_sample: pd.DataFrame | None = None):
    """Stage every artifact in a temporary folder and yield the keyword arguments MLflow's writers take."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        artifacts = bundle.save(root / "bundle")
        cfg = root / "resolved_config.yaml"
        cfg.write_text(yaml.safe_dump(config, sort_keys=False))
        artifacts["config"] = str(cfg)
        artifacts["reference_sample"] = str(write_reference(reference, root / "reference_sample.parquet"))
        if null_sample is not None:
            artifacts[NULL_ARTIFACT] = str(write_reference(null_sample, root / f"{NULL_ARTIFACT}.parquet"))
        example = input_example(bars, bundle.min_bars)
        example_file = root / "example_bars.parquet"
        example.to_parquet(example_file, index=False)
        artifacts[EXAMPLE_ARTIFACT] = str(example_file)
        yield {
            "python_model": str(MODEL_CODE),
            "artifacts": artifacts,
            "code_paths": _copy_sources(root / "code"),
            "signature": model_signature(),
            "input_example": (example, {"last_only": True}),
            "pip_requirements": pip_requirements(bundle.model),
            "metadata": metadata,
        }


def log_pyfunc(bundle: ModelBundle, *, bars: pd.DataFrame, reference: pd.DataFrame, config: dict[str, Any],
               metadata: dict[str, Any], name: str = "model", null_sample: pd.DataFrame | None = None):
    """Log the pyfunc to the active run and return MLflow's ``ModelInfo``.

    ``bars``: the bars the model was built from (its last ``min_bars`` rows become the input example and the
    warm-up request run at load time); ``reference``: the reference sample; ``null_sample``: held-out contiguous
    training rows for the drift monitor's calibrated threshold (optional); ``config``: the resolved
    configuration (pipeline, model, training sections).
    """
    import mlflow

    with _pyfunc_kwargs(bundle, bars, reference, config, metadata, null_sample) as kwargs:
        return mlflow.pyfunc.log_model(name=name, **kwargs)


def save_pyfunc(bundle: ModelBundle, path: str | Path, *, bars: pd.DataFrame, reference: pd.DataFrame,
                config: dict[str, Any], metadata: dict[str, Any], null_sample: pd.DataFrame | None = None) -> Path:
    """Write the same pyfunc as :func:`log_pyfunc` to a local folder (no tracking server involved)."""
    import mlflow

    with _pyfunc_kwargs(bundle, bars, reference, config, metadata, null_sample) as kwargs:
        mlflow.pyfunc.save_model(str(path), **kwargs)
    return Path(path)
