"""Where runs land and what a failed run keeps: the MLflow conventions every job shares.

* :func:`use_experiment`: a job's runs go to ``<contract>-<job>`` (lowercase, e.g. ``mes-train``), never to
  MLflow's "Default", unless the user or ``mlflow run`` already chose (``MLFLOW_EXPERIMENT_NAME``,
  ``MLFLOW_EXPERIMENT_ID``, ``MLFLOW_RUN_ID``, or an active run).
* :func:`record_failure`: under ``mlflow run`` the run exists before our code starts (``MLFLOW_RUN_ID``), so a
  failure is written on it (an ``error`` tag and an ``error.txt`` artifact) instead of leaving a bare FAILED run.
* :func:`clean_params`: params without a value are not logged (MLflow would show a literal ``''``).
"""

from __future__ import annotations

import os
from typing import Any

# Environment variables through which the user or `mlflow run` has already picked the experiment (or the run).
_CHOSEN = ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID")
# MLflow caps tag values (8,000 characters in MLflow 3); the tag is the one-line summary, the artifact the rest.
MAX_TAG_CHARS = 500
MAX_TEXT_CHARS = 20_000


def experiment_name(contract: str, job: str) -> str:
    """``mes-train``, ``mgc-evaluate``, ...: one experiment per contract and job, so the UI groups like runs."""
    return f"{contract.lower()}-{job}"


def use_experiment(contract: str, job: str) -> str | None:
    """Make ``<contract>-<job>`` the active experiment unless one was chosen already; returns the name set."""
    import mlflow

    if any(os.environ.get(v) for v in _CHOSEN) or mlflow.active_run() is not None:
        return None
    name = experiment_name(contract, job)
    mlflow.set_experiment(name)
    return name


def clean_params(params: dict[str, Any]) -> dict[str, Any]:
    """Drop params whose value is None or empty: "not set" is not a value worth a column in the UI."""
    return {k: v for k, v in params.items() if v is not None and not (isinstance(v, str) and v.strip() == "")}


def one_line(message: str) -> str:
    line = " ".join(str(message).split())
    return line if len(line) <= MAX_TAG_CHARS else line[:MAX_TAG_CHARS - 3] + "..."


def record_failure(message: str, detail: str | None = None, run_id: str | None = None) -> str | None:
    """Tag the run ``MLFLOW_RUN_ID`` (set by ``mlflow run``) with ``error`` and log ``error.txt``.

    Returns the run id written to, or None when there is no such run (plain ``factory ...``: validation fails
    before any run exists, so there is nothing to annotate). Never raises: a tracking problem while reporting
    an error must not hide the error itself.
    """
    run_id = run_id or os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return None
    try:
        from mlflow import MlflowClient

        client = MlflowClient()
        client.set_tag(run_id, "error", one_line(message))
        text = str(message) if detail is None else f"{message}\n\n{detail}"
        client.log_text(run_id, text[:MAX_TEXT_CHARS] + "\n", "error.txt")
    except Exception as exc:  # noqa: BLE001 - reporting must not replace the original error
        import sys

        print(f"warning: could not record the error on run {run_id}: {exc}", file=sys.stderr)
        return None
    return run_id
