"""The MLflow pyfunc every factory model is served as (ensembles included): raw bars in, predictions out.

``load_context`` rebuilds a :class:`~factory.packaging.bundle.ModelBundle` from the logged artifacts (JSON,
``.npz`` without pickle, native LightGBM/XGBoost files), limits the boosting libraries to
``FACTORY_PREDICT_THREADS`` threads per prediction (:mod:`serving.threads`), runs one warm-up request and, with
``FACTORY_INFERENCE_LOG`` set, opens the inference log (:mod:`serving.inference_log`; an unusable folder fails
here, at load time). ``predict`` runs the serving input checks first (:mod:`serving.input_checks`), then the
bundle, then appends the predicted rows' model inputs and outputs to the log. Any problem caused by the request
raises ``MlflowException`` with ``INVALID_PARAMETER_VALUE``, which ``mlflow models serve`` returns as HTTP 400
with the message.

In the log's default (sync) mode the file is written before ``predict`` returns, so before the server sends the
response; when it cannot be written, ``predict`` raises ``MlflowException`` with ``TEMPORARILY_UNAVAILABLE``,
returned as HTTP 503 with the cause: a server-side fault, and the prediction is not answered since it could not be
logged. The async mode (``FACTORY_INFERENCE_LOG_MODE=async``) never fails a request for the log.

Params: ``last_only`` (bool, default false): return only the last bar's row.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from factory.parquet import read_parquet

EXAMPLE_ARTIFACT = "example_bars"


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


class FactoryPyfunc(mlflow.pyfunc.PythonModel):
    """Bars -> ``timestamp, prob_down, prob_flat, prob_up, signal, expected_return, ret_q05, ret_q50, ret_q95``."""

    inference_log = None

    def load_context(self, context) -> None:
        from factory.packaging.bundle import ModelBundle
        from serving.inference_log import open_from_env
        from serving.model_identity import identify
        from serving.threads import limit_prediction_threads, predict_threads

        artifacts = dict(context.artifacts)
        self.bundle = ModelBundle.from_paths(artifacts)
        limit_prediction_threads(self.bundle.model, predict_threads())
        self.identity = identify(artifacts)
        # Opened before the warm-up so a bad folder fails fast; attached after it so the warm-up is not logged.
        log = open_from_env(self.identity.log_name, self.bundle.input_names, self.identity.as_metadata())
        self.inference_log = None
        example = artifacts.get(EXAMPLE_ARTIFACT)
        if example:
            # One request at load time compiles the JIT kernels, so the first client does not wait for them.
            self.predict(context, read_parquet(example), {"last_only": True})
        self.inference_log = log

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None):
        from factory.errors import FactoryError
        from serving.input_checks import check_bars_input, input_error

        received_us = time.time_ns() // 1000
        last_only = _as_bool((params or {}).get("last_only", False))
        if isinstance(model_input, (dict, list)):
            try:
                model_input = pd.DataFrame(model_input)
            except (ValueError, TypeError) as exc:
                raise input_error("type", f"cannot read the request as a table of bars ({exc})") from None
        bars = check_bars_input(model_input, self.bundle.min_bars)
        try:
            out, inputs = self.bundle.predict_with_inputs(bars, last_only=last_only)
        except FactoryError as exc:
            raise input_error("model_input", str(exc)) from None
        if self.inference_log is not None:
            self._log(received_us, out, inputs)
        return out

    def _log(self, received_us: int, out: pd.DataFrame, inputs: pd.DataFrame) -> None:
        from serving.inference_log import OUTPUT_NAMES, InferenceLogWriteError

        # Plain arrays only: the response frame is still to be serialised by the server.
        try:
            self.inference_log.append(
                received_us, uuid.uuid4().hex, pd.DatetimeIndex(out["timestamp"]).asi8,
                inputs.to_numpy(), {k: np.asarray(out[k].to_numpy()) for k in OUTPUT_NAMES})
        except InferenceLogWriteError as exc:
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

            # 503, not 400: the request was fine; the server cannot keep the record it promised to keep.
            raise MlflowException(f"server error, prediction not answered: {exc}. The inference log "
                                  f"(FACTORY_INFERENCE_LOG) must be writable for the server to answer; retry "
                                  f"once it is", error_code=TEMPORARILY_UNAVAILABLE) from None
