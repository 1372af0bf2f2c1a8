"""Thread count of one prediction at serve time.

The scoring server runs each request on its own worker thread and a request predicts a handful of rows. An
OpenMP team per prediction then only adds latency: on a loaded machine the team waits for a busy core, which
costs a scheduler time slice (measured: a one-row LightGBM prediction took ~12 ms with the default threads,
15 us with one). Served models therefore predict on ``FACTORY_PREDICT_THREADS`` threads (default 1);
throughput comes from concurrent requests instead. How a model limits its threads is the model's own business
(:meth:`factory.models.base.FactoryModel.set_predict_threads`; ensembles pass it to their members).
"""

from __future__ import annotations

import os

THREADS_ENV = "FACTORY_PREDICT_THREADS"


def predict_threads(environ=os.environ) -> int:
    """Threads per prediction, from ``FACTORY_PREDICT_THREADS`` (default and fallback: 1)."""
    try:
        n = int(environ.get(THREADS_ENV, "1"))
    except ValueError:
        return 1
    return n if n > 0 else 1


def limit_prediction_threads(model, n: int) -> list[str]:
    """Make ``model`` (and every model inside it) predict on ``n`` threads; returns the keys changed."""
    return model.set_predict_threads(int(n))
