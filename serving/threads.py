"""Thread count of the gradient-boosting libraries at serve time.

The scoring server runs each request on its own worker thread and a request predicts a handful of rows. An
OpenMP team per prediction then only adds latency: on a loaded machine the team waits for a busy core, which
costs a scheduler time slice (measured: a one-row LightGBM prediction took ~12 ms with the default threads,
15 us with one). Served models therefore predict on ``FACTORY_PREDICT_THREADS`` threads (default 1);
throughput comes from concurrent requests instead.

XGBoost takes the count as a booster parameter. LightGBM reads it only as an argument of ``Booster.predict``
(a loaded model file does not keep it), so the loaded booster's ``predict`` gets it bound.
"""

from __future__ import annotations

import functools
import os

THREADS_ENV = "FACTORY_PREDICT_THREADS"


def predict_threads(environ=os.environ) -> int:
    """Threads per prediction, from ``FACTORY_PREDICT_THREADS`` (default and fallback: 1)."""
    try:
        n = int(environ.get(THREADS_ENV, "1"))
    except ValueError:
        return 1
    return n if n > 0 else 1


def _models(model):
    """``model`` and, for ensembles, its members and meta-learner, depth first."""
    yield model
    for member in getattr(model, "members_", None) or []:
        yield from _models(member)
    meta = getattr(model, "meta_", None)
    if meta is not None:
        yield from _models(meta)


def limit_prediction_threads(model, n: int) -> list[str]:
    """Make every LightGBM/XGBoost booster inside ``model`` predict on ``n`` threads; returns the keys changed."""
    changed = []
    for m in _models(model):
        booster = getattr(m, "booster_", None)
        library = type(booster).__module__.split(".", 1)[0] if booster is not None else ""
        if library == "xgboost":
            booster.set_param({"nthread": int(n)})
        elif library == "lightgbm":
            booster.predict = functools.partial(type(booster).predict, booster, num_threads=int(n))
        else:
            continue
        changed.append(getattr(m, "key", library))
    return changed
