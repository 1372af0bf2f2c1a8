"""What the daemon writes to MLflow: a monitoring run per model version and the version's drift status.

* experiment ``factory-monitoring`` (configurable), one run per watched ``(name, version)``, found again by its
  tags after a restart; per window (step = window index): ``drift_share``, ``n_drifted_columns``,
  ``n_columns``, ``n_rows``, ``drift_detected`` and one ``column_drift/<column>`` score per compared column; the
  HTML report of a drifting window as an artifact under ``reports/``;
* on the model version: tags ``drift_status`` (``drift`` / ``ok``), ``drift_share`` and ``drift_window_end``.

Any failure to reach the tracking server is raised as :class:`TrackingUnavailable`, which makes the daemon keep
its place and retry later.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from factory.errors import FactoryError

MODEL_TAG = "factory.monitor.model"
VERSION_TAG = "factory.monitor.version"
METRIC_CHUNK = 900  # MLflow accepts at most 1000 metrics per log_batch call


class TrackingUnavailable(FactoryError):
    """The tracking server or registry could not be reached (or refused a write)."""


def metric_name(column: str) -> str:
    """``column_drift/<column>`` with characters MLflow does not accept in names replaced by ``_``."""
    return "column_drift/" + re.sub(r"[^A-Za-z0-9_\-. /]", "_", column)


class MonitoringTracker:
    """Monitoring runs and version tags, through one ``MlflowClient``."""

    def __init__(self, client, experiment: str) -> None:
        self.client = client
        self.experiment = experiment
        self._experiment_id: str | None = None
        self._runs: dict[tuple[str, str], str] = {}

    def _call(self, what: str, fn, *args, **kwargs):
        from factory.packaging.registry import RegistryError

        try:
            return fn(*args, **kwargs)
        except (RegistryError, TrackingUnavailable):
            raise
        except Exception as exc:  # noqa: BLE001 - MLflow surfaces network trouble as many exception types
            raise TrackingUnavailable(f"MLflow {what} failed: {str(exc).splitlines()[0] if str(exc) else exc!r}") \
                from exc

    def experiment_id(self) -> str:
        if self._experiment_id is None:
            def get_or_create():
                exp = self.client.get_experiment_by_name(self.experiment)
                return exp.experiment_id if exp else self.client.create_experiment(self.experiment)

            self._experiment_id = self._call("experiment lookup", get_or_create)
        return self._experiment_id

    def run_id(self, name: str, version: str, model_uri: str) -> str:
        """The monitoring run of ``name`` version ``version`` (created on first use)."""
        key = (name, str(version))
        if key not in self._runs:
            exp = self.experiment_id()

            def find_or_create():
                found = self.client.search_runs(
                    [exp], filter_string=f"tags.`{MODEL_TAG}` = '{name}' and tags.`{VERSION_TAG}` = '{version}'",
                    max_results=1, order_by=["attributes.start_time ASC"])
                if found:
                    return found[0].info.run_id
                run = self.client.create_run(exp, run_name=f"drift-{name}-v{version}", tags={
                    MODEL_TAG: name, VERSION_TAG: str(version), "factory.monitor.model_uri": model_uri,
                    "mlflow.note.content": f"Drift monitoring of models:/{name}/{version} (watched as {model_uri})."})
                return run.info.run_id

            self._runs[key] = self._call("monitoring run lookup", find_or_create)
        return self._runs[key]

    def describe(self, run_id: str, settings: dict[str, str]) -> None:
        """Record the daemon's settings as run tags (tags, unlike params, may change between restarts)."""
        self._call("set run tags", lambda: [self.client.set_tag(run_id, f"factory.monitor.{k}", str(v))
                                            for k, v in settings.items()])

    def log_window(self, run_id: str, step: int, n_rows: int, result) -> None:
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        values = {"drift_share": result.drift_share, "n_drifted_columns": len(result.drifted_columns),
                  "n_columns": result.n_columns, "n_rows": n_rows, "drift_detected": float(result.drift)}
        values.update({metric_name(c): s for c, s in result.scores.items() if s == s})  # NaN scores are left out
        metrics = [Metric(k, float(v), ts, int(step)) for k, v in values.items()]
        for i in range(0, len(metrics), METRIC_CHUNK):
            self._call("log metrics", self.client.log_batch, run_id, metrics=metrics[i:i + METRIC_CHUNK])

    def log_report(self, run_id: str, path: str | Path) -> None:
        self._call("log report", self.client.log_artifact, run_id, str(path), "reports")

    def set_status(self, name: str, version: str, drift: bool, share: float, window_end: str) -> None:
        def tag():
            for key, value in (("drift_status", "drift" if drift else "ok"), ("drift_share", f"{share:.4f}"),
                               ("drift_window_end", window_end)):
                self.client.set_model_version_tag(name, str(version), key, value)

        self._call("set model version tags", tag)
