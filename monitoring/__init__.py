"""Drift monitoring of served models: the daemon, its alert sinks and its status app.

* :mod:`~monitoring.daemon`: :class:`DriftMonitor`, the cycle (resolve -> read log -> windows -> check -> sinks);
* :mod:`~monitoring.config`: settings (``mlproject/monitoring.yaml``);
* :mod:`~monitoring.log_reader` / :mod:`~monitoring.windows`: inference-log cursor and complete windows;
* :mod:`~monitoring.reference`: version resolution and the reference sample logged inside each model;
* :mod:`~monitoring.drift`: the Evidently check (pinned per-column method) and its HTML report;
* :mod:`~monitoring.alerts` / :mod:`~monitoring.webhook` / :mod:`~monitoring.tracking`: JSONL, webhook, MLflow;
* :mod:`~monitoring.state`: the position on disk; :mod:`~monitoring.status` / :mod:`~monitoring.status_app`: the
  live counters and the FastAPI status app.

Command line: ``factory monitor --model-uri models:/mes-lightgbm@champion --log-dir DIR`` or
``mlflow run . -e drift -P model_uri=... -P log_dir=... --env-manager local``.
"""
