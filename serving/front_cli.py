"""Launch ``factory serve``: resolve the model once, then run :mod:`serving.front_app` under uvicorn.

The model URI (``models:/name@alias`` included) is resolved and downloaded once, here, so every worker serves the
same version even if the alias moves while they start; each worker then loads it once through uvicorn's factory
mode (``serving.front_app:create_app``), the settings travelling in environment variables as with
``mlflow models serve``.
"""

from __future__ import annotations

import os
import signal
import tempfile
from dataclasses import dataclass

from factory.errors import FactoryError
from serving.front_app import (DEFAULT_MAX_BODY_MB, DEFAULT_MAX_DEPTH, MAX_BODY_ENV, MAX_DEPTH_ENV, MODEL_ENV)

DEFAULT_TIMEOUT_S = 60  # MLflow's own default request timeout


def default_workers() -> int:
    """One worker per core, at most 4 (each holds its own copy of the model)."""
    return max(1, min(os.cpu_count() or 1, 4))


@dataclass(frozen=True)
class ServeOptions:
    model_uri: str
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 0  # 0: default_workers()
    timeout: int = DEFAULT_TIMEOUT_S
    max_body_mb: float = DEFAULT_MAX_BODY_MB
    max_json_depth: int = DEFAULT_MAX_DEPTH

    def __post_init__(self) -> None:
        for name in ("port", "workers", "timeout", "max_json_depth"):
            if int(getattr(self, name)) < (0 if name == "workers" else 1):
                raise FactoryError(f"serve: --{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if not self.max_body_mb > 0:
            raise FactoryError(f"serve: --max-body-mb must be positive, got {self.max_body_mb}")


def serve(options: ServeOptions) -> None:
    """Run the server in the foreground until interrupted (Ctrl-C or SIGTERM)."""
    import uvicorn

    # uvicorn re-raises the signal that stopped it once it has shut down: as an exit, so the model copy is removed.
    signal.signal(signal.SIGTERM, _exit)
    with tempfile.TemporaryDirectory(prefix="factory-serve-") as folder:
        local = _download(options.model_uri, folder)
        os.environ[MODEL_ENV] = local
        os.environ[MAX_BODY_ENV] = str(int(options.max_body_mb * 2**20))
        os.environ[MAX_DEPTH_ENV] = str(int(options.max_json_depth))
        os.environ["MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"] = str(int(options.timeout))
        workers = options.workers or default_workers()
        print(f"factory serve: {options.model_uri} on http://{options.host}:{options.port} ({workers} worker(s), "
              f"bodies up to {options.max_body_mb:g} MB, JSON depth up to {options.max_json_depth})", flush=True)
        uvicorn.run("serving.front_app:create_app", factory=True, host=options.host, port=int(options.port),
                    workers=workers, timeout_keep_alive=5)


def _exit(signum, frame) -> None:
    raise SystemExit(0)


def _download(model_uri: str, folder: str) -> str:
    import mlflow
    from mlflow.exceptions import MlflowException

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar line per file in a log
    try:
        return mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=folder)
    except (MlflowException, OSError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise FactoryError(f"serve: cannot fetch model {model_uri!r}: {message.splitlines()[0]}") from None
