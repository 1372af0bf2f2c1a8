"""What a watched model is compared against: its registry version, feature names and reference sample.

Every cycle resolves the watched URI (``models:/<name>@champion``, ``models:/<name>/Production``, ...) to one
version, so a newly promoted champion switches the reference at the next window. Only these files are downloaded per
version, and once: ``MLmodel`` (its ``metadata.feature_names``), the ``reference_sample`` artifact (training-row
model inputs) and, when the model has one, the ``drift_null_sample`` (held-out contiguous training rows, see
:mod:`monitoring.calibration`); the model itself is never loaded.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from factory.errors import FactoryError
from factory.parquet import read_parquet

REFERENCE_ARTIFACT = "reference_sample"
# factory.packaging.reference.NULL_ARTIFACT, spelled out: importing the packaging package would load the feature code.
NULL_ARTIFACT = "drift_null_sample"
DEFAULT_REFERENCE_PATH = "artifacts/reference_sample.parquet"


class ReferenceError(FactoryError):
    """A model version has no usable reference sample or feature names."""


@dataclass(frozen=True)
class ModelReference:
    """One registry version and the data the daemon compares its served inputs with."""

    name: str
    version: str
    uri: str  # models:/<name>/<version>
    run_id: str | None
    feature_names: list[str]
    sample: pd.DataFrame
    null_sample: pd.DataFrame | None = None  # None: a model logged without held-out rows


def resolve(model_uri: str, client):
    """``ResolvedModel`` (name, version) of a registry URI or bare name; other URIs are refused."""
    from factory.packaging.registry import RegistryError, resolve_model_uri
    from monitoring.tracking import TrackingUnavailable

    try:
        resolved = resolve_model_uri(model_uri, client)
    except RegistryError:
        # resolve_model_uri reads any failed lookup as "no such model"; tell an unreachable registry apart.
        try:
            client.search_registered_models(max_results=1)
        except Exception as exc:  # noqa: BLE001 - network trouble arrives as many exception types
            raise TrackingUnavailable(f"cannot reach the model registry: {str(exc).splitlines()[0]}") from exc
        raise
    if resolved.name is None or resolved.version is None:
        raise RegistryError(f"'{model_uri}' is not a registered model; the drift daemon watches registry URIs "
                            "(models:/<name>@champion, models:/<name>/Production, models:/<name>/<version>)")
    return resolved


def load_reference(name: str, version: str, run_id: str | None = None) -> ModelReference:
    """Download ``MLmodel`` and the reference sample of ``models:/<name>/<version>`` (MLflow's current stores)."""
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

    uri = f"models:/{name}/{version}"
    repo = ModelsArtifactRepository(uri)
    with tempfile.TemporaryDirectory() as tmp:
        mlmodel = yaml.safe_load(Path(repo.download_artifacts("MLmodel", tmp)).read_text()) or {}
        meta = mlmodel.get("metadata") or {}
        features = meta.get("feature_names")
        if not features:
            raise ReferenceError(f"{uri} has no metadata.feature_names in its MLmodel; was it logged by factory?")
        artifacts = ((mlmodel.get("flavors") or {}).get("python_function") or {}).get("artifacts") or {}
        rel = (artifacts.get(REFERENCE_ARTIFACT) or {}).get("path") or DEFAULT_REFERENCE_PATH
        try:
            sample = read_parquet(repo.download_artifacts(rel, tmp))
        except Exception as exc:  # noqa: BLE001 - a missing artifact surfaces as several exception types
            raise ReferenceError(f"{uri} has no readable reference sample at '{rel}': {exc}") from None
        null_sample = None
        null_rel = (artifacts.get(NULL_ARTIFACT) or {}).get("path")
        if null_rel:
            try:
                null_sample = read_parquet(repo.download_artifacts(null_rel, tmp))
            except Exception as exc:  # noqa: BLE001
                raise ReferenceError(f"{uri} lists a held-out null sample at '{null_rel}' that cannot be read: "
                                     f"{exc}") from None
    missing = [c for c in features if c not in sample.columns]
    if len(missing) == len(features):
        raise ReferenceError(f"the reference sample of {uri} holds none of the model's feature columns")
    return ModelReference(name, str(version), uri, run_id, [str(f) for f in features], sample, null_sample)
