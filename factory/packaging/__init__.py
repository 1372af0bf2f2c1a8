"""Packaging: one MLflow pyfunc for every model (ensembles included), its signature, metadata and registry.

* :mod:`~factory.packaging.model_inputs`: ``compute_model_inputs(bars, feature_pipeline, hmm)``, the one code path
  from bars to a model's input matrix, shared by training and serving;
* :mod:`~factory.packaging.bundle`: :class:`ModelBundle` (pipeline + HMM + model + calibration + returns);
* :mod:`~factory.packaging.pyfunc` / ``model_code.py``: the served ``PythonModel`` ("models from code");
* :mod:`~factory.packaging.log_model`: ``log_pyfunc`` / ``save_pyfunc`` with signature, example, metadata,
  pinned requirements, the reference sample and the package sources;
* :mod:`~factory.packaging.registry`: registration, version tags and descriptions, ``resolve_model_uri``.

Importing this package does not import MLflow; the submodules that need it do.
"""

from factory.packaging.bundle import OUTPUT_COLUMNS, RETURN_QUANTILES, ModelBundle
from factory.packaging.model_inputs import compute_model_inputs, input_lookback

__all__ = ["OUTPUT_COLUMNS", "RETURN_QUANTILES", "ModelBundle", "compute_model_inputs", "input_lookback",
           "resolve_model_uri"]


def resolve_model_uri(name_or_uri: str, mlflow_client=None):
    """See :func:`factory.packaging.registry.resolve_model_uri`."""
    from factory.packaging.registry import resolve_model_uri as _resolve

    return _resolve(name_or_uri, mlflow_client)
