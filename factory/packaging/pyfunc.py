"""The MLflow pyfunc every factory model is served as (ensembles included): raw bars in, predictions out.

``load_context`` rebuilds a :class:`~factory.packaging.bundle.ModelBundle` from the logged artifacts (JSON,
``.npz`` without pickle, native LightGBM/XGBoost files). ``predict`` runs the serving input checks first
(:mod:`serving.input_checks`), then the bundle. Any problem caused by the request raises ``MlflowException``
with ``INVALID_PARAMETER_VALUE``, which ``mlflow models serve`` returns as HTTP 400 with the message.

Params: ``last_only`` (bool, default false): return only the last bar's row.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

EXAMPLE_ARTIFACT = "example_bars"


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


class FactoryPyfunc(mlflow.pyfunc.PythonModel):
    """Bars -> ``timestamp, prob_down, prob_flat, prob_up, signal, expected_return, ret_q05, ret_q50, ret_q95``."""

    def load_context(self, context) -> None:
        from factory.packaging.bundle import ModelBundle

        artifacts = dict(context.artifacts)
        self.bundle = ModelBundle.from_paths(artifacts)
        example = artifacts.get(EXAMPLE_ARTIFACT)
        if example:
            # One request at load time compiles the JIT kernels, so the first client does not wait for them.
            self.predict(context, pd.read_parquet(example), {"last_only": True})

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None):
        from factory.errors import FactoryError
        from serving.input_checks import check_bars_input, input_error

        last_only = _as_bool((params or {}).get("last_only", False))
        if isinstance(model_input, (dict, list)):
            try:
                model_input = pd.DataFrame(model_input)
            except (ValueError, TypeError) as exc:
                raise input_error("type", f"cannot read the request as a table of bars ({exc})") from None
        bars = check_bars_input(model_input, self.bundle.min_bars)
        try:
            return self.bundle.predict(bars, last_only=last_only)
        except FactoryError as exc:
            raise input_error("model_input", str(exc)) from None
