"""Run ``mlflow models serve`` (or ``factory serve``) on 127.0.0.1 as a subprocess and talk to it (tests,
benchmarks, smoke checks).

::

    with LocalScoringServer("models:/mes-lightgbm@champion", env={"FACTORY_INFERENCE_LOG": "logs"}) as server:
        status, body = server.post({"dataframe_split": ..., "params": {"last_only": True}})

The server gets its own process group so stopping it also stops the uvicorn workers it starts; its output goes
to a log file whose tail is shown when it fails to start.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class ServerStartError(RuntimeError):
    """The scoring server exited or did not answer ``/ping`` in time."""


class LocalScoringServer:
    """``mlflow models serve -m MODEL_URI --env-manager local -h 127.0.0.1 -p PORT`` as a context manager.

    ``front=True`` runs ``factory serve`` instead (``extra_args`` go to its command line).
    """

    def __init__(self, model_uri: str, *, env: dict[str, str] | None = None, cwd: str | Path | None = None,
                 port: int | None = None, startup_timeout: float = 240.0, workers: int = 1, front: bool = False,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.model_uri = str(model_uri)
        self.env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", **(env or {})}
        self.cwd = str(cwd) if cwd else None
        self.port = int(port or free_port())
        self.startup_timeout = float(startup_timeout)
        self.workers = int(workers)
        self.front = bool(front)
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen | None = None
        self._log = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "LocalScoringServer":
        """Launch the server (returns at once; :meth:`wait_ready` waits for it)."""
        self._log = tempfile.NamedTemporaryFile(prefix="scoring-server-", suffix=".log", delete=False)
        if self.front:
            cmd = [sys.executable, "-m", "factory.cli", "serve", "-m", self.model_uri, "-h", HOST,
                   "-p", str(self.port), "-w", str(self.workers), *self.extra_args]
        else:
            cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", self.model_uri, "--env-manager",
                   "local", "-h", HOST, "-p", str(self.port), "-w", str(self.workers), *self.extra_args]
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def wait_ready(self) -> "LocalScoringServer":
        """Poll ``/ping`` until it answers 200; raise :class:`ServerStartError` on exit or timeout."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise ServerStartError(f"scoring server for {self.model_uri} exited:\n{self.log_tail()}")
            try:
                if self.get("/ping")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.25)
        raise ServerStartError(f"scoring server for {self.model_uri} did not answer /ping within "
                               f"{self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL after ``timeout``)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None

    def __enter__(self) -> "LocalScoringServer":
        self.start()
        try:
            return self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-chars:]

    # ------------------------------------------------------------------ requests
    def connection(self, timeout: float = 60.0) -> http.client.HTTPConnection:
        """A keep-alive connection to the server (one per thread)."""
        return http.client.HTTPConnection(HOST, self.port, timeout=timeout)

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        conn = self.connection(timeout)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def post_raw(self, body: bytes | str, content_type: str | None = "application/json",
                 conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
        """POST ``body`` to ``/invocations``; ``content_type=None`` sends no Content-Type header."""
        own = conn is None
        conn = conn or self.connection()
        try:
            headers = {} if content_type is None else {"Content-Type": content_type}
            conn.request("POST", "/invocations", body=body.encode() if isinstance(body, str) else body,
                         headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            if own:
                conn.close()

    def post(self, payload: Any, conn: http.client.HTTPConnection | None = None) -> tuple[int, Any]:
        """POST ``payload`` as JSON; returns the status and the decoded JSON body (text if not JSON)."""
        status, raw = self.post_raw(json.dumps(payload), conn=conn)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")
