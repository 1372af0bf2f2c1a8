"""Where runs land and what a failed run keeps: the MLflow conventions every job shares.

* :func:`use_experiment`: a job's runs go to ``<contract>-<job>`` (lowercase, e.g. ``mes-train``), never to
  MLflow's "Default", unless the user or ``mlflow run`` already chose (``MLFLOW_EXPERIMENT_NAME``,
  ``MLFLOW_EXPERIMENT_ID``, ``MLFLOW_RUN_ID``, or an active run).
* :func:`record_failure`: under ``mlflow run`` the run exists before our code starts (``MLFLOW_RUN_ID``), so a
  failure is written on it (an ``error`` tag and an ``error.txt`` artifact) instead of leaving a bare FAILED run.
* :func:`job_run`: ``mlflow.start_run`` in that experiment, and a failure inside the run (once our own code
  has started it, with ``factory train`` as much as under ``mlflow run``) is recorded on it the same way.
* :func:`clean_params`: params without a value are not logged (MLflow would show a literal ``''``).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any

# Environment variables through which the user or `mlflow run` has already picked the experiment (or the run).
_CHOSEN = ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID")
# MLflow caps tag values (8,000 characters in MLflow 3); the tag is the one-line summary, the artifact the rest.
MAX_TAG_CHARS = 500
MAX_TEXT_CHARS = 20_000


def experiment_name(contract: str, job: str) -> str:
    """``mes-train``, ``mgc-evaluate``, ...: one experiment per contract and job, so the UI groups like runs."""
    return f"{contract.lower()}-{job}"


def _caller_chose_experiment() -> bool:
    """True when the calling code made an experiment active with ``mlflow.set_experiment``."""
    from mlflow.tracking import fluent

    return getattr(fluent, "_active_experiment_id", None) is not None


def use_experiment(contract: str, job: str) -> str | None:
    """The id of experiment ``<contract>-<job>`` (created if missing) for ``mlflow.start_run(experiment_id=...)``,
    or None when the choice was made already and the run should go where MLflow puts it.

    Made already: ``MLFLOW_EXPERIMENT_NAME`` / ``MLFLOW_EXPERIMENT_ID``, a run handed over by ``mlflow run``
    (``MLFLOW_RUN_ID``: it lives where ``mlflow run --experiment-name`` put it), an active run, or an
    experiment the calling code set with ``mlflow.set_experiment``. The id is passed to ``start_run`` rather
    than made globally active, so one job does not decide where a later, unrelated run of the process goes.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from factory.errors import ConfigError

    if any(os.environ.get(v) for v in _CHOSEN) or mlflow.active_run() is not None or _caller_chose_experiment():
        return None
    name = experiment_name(contract, job)
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name)
        except MlflowException:  # created meanwhile by a concurrent job
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        raise ConfigError(f"MLflow experiment '{name}' is deleted: restore it (mlflow experiments restore "
                          f"--experiment-id {exp.experiment_id}) or choose another with MLFLOW_EXPERIMENT_NAME")
    return exp.experiment_id


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


def dataset_digest(sha256: str) -> str:
    """The MLflow dataset digest: our data fingerprint's first 16 hex digits (MLflow stores at most 36)."""
    return sha256[:16]


def log_bars_input(bars, source: str, sha256: str, contract: str, context: str = "training") -> None:
    """Log the bars as the active run's MLflow dataset input, so the UI's "Datasets" column names the data.

    The digest is our own fingerprint of the bars (``data_sha256``), not MLflow's hash of the frame: the same
    file read twice, or the embedded default, shows the same digest everywhere (tags, metadata, datasets).
    """
    import warnings

    import mlflow

    with warnings.catch_warnings():
        # A path or a free-text source ("synthetic ... bars") both resolve to a local artifact source; MLflow
        # warns that it guessed, which says nothing to the user.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        dataset = mlflow.data.from_pandas(bars, source=source, name=f"{contract.lower()}-bars",
                                          digest=dataset_digest(sha256))
    mlflow.log_input(dataset, context=context)


@contextmanager
def job_run(contract: str, job: str, run_name: str):
    """``mlflow.start_run`` for a job: in :func:`use_experiment`'s experiment, and an exception raised inside
    leaves the reason on the run (:func:`record_failure`) before MLflow ends it FAILED and the error goes on."""
    import traceback

    import mlflow

    from factory.errors import FactoryError

    with mlflow.start_run(run_name=run_name, experiment_id=use_experiment(contract, job)) as run:
        try:
            yield run
        except FactoryError as exc:
            record_failure(str(exc), run_id=run.info.run_id)
            raise
        except Exception as exc:
            record_failure(f"{type(exc).__name__}: {exc}", detail=traceback.format_exc(), run_id=run.info.run_id)
            raise
