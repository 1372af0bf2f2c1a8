"""The pyfunc's signature (bar columns as ``AnyType``, a ``last_only`` param, the output columns) and its example.

Bar columns are declared ``AnyType`` because MLflow's own column types reject inputs traders send every day
(a ``datetime`` column refuses timezone-aware values and ISO strings with an offset; ``double`` refuses int64
volumes); :mod:`serving.input_checks` parses and validates them instead, with messages that name the problem.
"""

from __future__ import annotations

import pandas as pd

from factory.packaging.bundle import OUTPUT_COLUMNS

BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
_OUTPUT_TYPES = {"timestamp": "datetime", "signal": "long"}


def model_signature():
    """``ModelSignature`` with AnyType bar columns, the output columns and ``last_only: boolean = False``."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema([ColSpec(AnyType(), name) for name in BAR_COLUMNS])
    outputs = Schema([ColSpec(_OUTPUT_TYPES.get(name, "double"), name) for name in OUTPUT_COLUMNS])
    params = ParamSchema([ParamSpec("last_only", "boolean", False)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def input_example(bars: pd.DataFrame, n_rows: int) -> pd.DataFrame:
    """The last ``n_rows`` bars with ISO-8601 UTC string timestamps (what a JSON client sends)."""
    tail = bars[list(BAR_COLUMNS)].iloc[-int(n_rows):].reset_index(drop=True).copy()
    tail["timestamp"] = [t.isoformat() for t in pd.DatetimeIndex(tail["timestamp"]).tz_convert("UTC")]
    return tail
