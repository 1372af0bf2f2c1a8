"""Shared fixtures of the packaging tests: one small dataset, each model fitted once, each pyfunc saved once."""

from __future__ import annotations

import os
import warnings

import pytest
from packaging_setup import N_BARS, SMALL_CONFIG

# Saving and loading a pyfunc downloads a few small files; their progress bars only clutter the test log.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _small_keys() -> set[str]:
    import yaml

    return set((yaml.safe_load(SMALL_CONFIG.read_text()).get("models") or {}))


@pytest.fixture(scope="session")
def small_bars():
    from factory.data.synth import generate_bars

    return generate_bars(N_BARS, seed=11)


@pytest.fixture(scope="session")
def dataset(small_bars):
    from factory.dataset import build_dataset
    from factory.train_config import load_train_config

    return build_dataset(small_bars, load_train_config("lightgbm", str(SMALL_CONFIG)).pipeline)


@pytest.fixture(scope="session")
def fitted(dataset):
    """``fitted(key)`` -> a ModelBundle fitted on the shared dataset (each key fitted once per session)."""
    from sklearn.exceptions import ConvergenceWarning

    from factory.fitting import fit_bundle
    from factory.models import create_model, get_model_class
    from factory.train_config import load_train_config

    cache = {}

    def get(key: str):
        if key not in cache:
            cfg = load_train_config(key, str(SMALL_CONFIG))
            # A key without settings in the small config trains with its tiny test settings.
            settings = cfg.model.model_dump(mode="json") if key in _small_keys() else \
                get_model_class(key).get_test_params()
            with warnings.catch_warnings():
                # The tiny logistic settings stop lbfgs early on purpose.
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = create_model(key, **settings)
                cache[key] = fit_bundle(dataset, model, training=cfg.training)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def saved(fitted, dataset, tmp_path_factory):
    """``saved(key)`` -> ``(folder, loaded pyfunc)`` of the key's pyfunc written with ``save_pyfunc``."""
    import mlflow

    from factory.packaging.log_model import save_pyfunc
    from factory.packaging.metadata import model_metadata
    from factory.packaging.reference import reference_and_null

    cache = {}

    def get(key: str):
        if key not in cache:
            bundle = fitted(key)
            folder = tmp_path_factory.mktemp(f"pyfunc_{key}") / "model"
            reference, null = reference_and_null(dataset.features, dataset.bars["timestamp"], dataset.rows("train"),
                                                 200, null_rows=300, segments=3)
            meta = model_metadata(bundle, data_sha256="test", label_config={"horizon": bundle.horizon_bars})
            save_pyfunc(bundle, folder, bars=dataset.bars, reference=reference, config={"model_key": key},
                        metadata=meta, null_sample=null)
            cache[key] = (folder, mlflow.pyfunc.load_model(str(folder)))
        return cache[key]

    return get
