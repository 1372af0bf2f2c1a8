"""What runs at serve time, next to (and inside) the pyfunc that ``mlflow models serve`` loads.

* :mod:`serving.input_checks`: validation and normalisation of the raw bars of a request;
* :mod:`serving.inference_log`: one Parquet file per prediction under ``$FACTORY_INFERENCE_LOG``, and its reader;
* :mod:`serving.model_identity`: registered name, version and run id of the loaded model;
* :mod:`serving.threads`: one thread per prediction for the boosting libraries;
* :mod:`serving.client` / :mod:`serving.local_server`: request bodies in MLflow's input formats, and a local
  ``mlflow models serve`` (or ``factory serve``) subprocess on 127.0.0.1 (tests, benchmarks, smoke checks);
* :mod:`serving.front_app`, :mod:`serving.front_checks`, :mod:`serving.front_cli`: ``factory serve``, MLflow's
  scoring app behind request limits and checks whose 400s name what is wrong.

Every module here is copied into each logged model (``code_paths``), so it imports nothing heavy at module level.
"""
