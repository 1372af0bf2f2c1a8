"""``factory serve``'s ASGI app: MLflow's own scoring app behind a thin layer that refuses bad requests cleanly.

:func:`create_app` (the uvicorn factory each worker calls once) loads the model with ``mlflow.pyfunc.load_model``
and builds MLflow's app with ``mlflow.pyfunc.scoring_server.init``: ``/ping``, ``/health`` and ``/version`` are
its own, and ``/invocations`` runs its own ``scoring_server.invocations`` (same input layouts, same answers).
:class:`Front` wraps it; on ``POST /invocations`` it

* answers 413 when ``Content-Length`` is over the limit, before reading, and stops reading a chunked body as soon as
  it passes the limit;
* reads a request without ``Content-Type`` as JSON (MLflow's app answers it with a 500);
* runs :mod:`serving.front_checks` (depth, encoding, layout, columns, params) and turns a ``text/csv`` body into
  ``dataframe_split``; the decoded request goes to ``invocations`` as a dict, so the body is parsed once;
* rewrites MLflow's errors: the ``Failed to predict data '<the whole frame>'`` prefix and the stack trace are
  dropped, a message that does not name a check gets ``invalid request: [mlflow]``, and long messages are cut, so
  every 400 starts with the check's name and carries no server path.

Other content types go to MLflow's app unchanged (its 415 lists what it reads), their answer cleaned the same way.
Settings come from environment variables (set by :mod:`serving.front_cli`, read in each worker).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from typing import Any

from serving.front_checks import RequestError, check_request, csv_request, parse_json_request

logger = logging.getLogger(__name__)
MODEL_ENV = "FACTORY_SERVE_MODEL"
MAX_BODY_ENV = "FACTORY_SERVE_MAX_BODY_BYTES"
MAX_DEPTH_ENV = "FACTORY_SERVE_MAX_JSON_DEPTH"
DEFAULT_MAX_BODY_MB = 32  # 100,000 bars (FACTORY_MAX_ROWS) in the widest layout are about 12 MB
DEFAULT_MAX_DEPTH = 32
MAX_MESSAGE = 1000
_INLINE = 1 << 20  # bodies above this are checked on a thread (as MLflow's app runs its predictions)
_CHECKED = re.compile(r"^invalid (bars|request): \[")
_PREFIX = re.compile(r"^Failed to predict data '.*?'\. \nError: ", re.DOTALL)
_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.+-]+/)+[\w.+-]*")


class Front:
    """ASGI layer around MLflow's scoring app (see the module docstring)."""

    def __init__(self, app, model, *, max_body: int, max_depth: int, timeout: float) -> None:
        self.app = app
        self.model = model
        self.input_schema = model.metadata.get_input_schema()
        params = model.metadata.get_params_schema()
        self.params = [p.name for p in params.params] if params else []
        self.input_names = ([s.name for s in self.input_schema.inputs if s.name and s.required]
                            if self.input_schema else [])
        self.max_body = int(max_body)
        self.max_depth = int(max_depth)
        self.timeout = float(timeout)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/invocations" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            request = await self._request(scope, receive)
        except RequestError as exc:
            await _answer(send, exc.status, str(exc))
            return
        if request is None:  # the client went away
            return
        if isinstance(request, bytes):  # a content type MLflow answers itself (415, listing the types it reads)
            await self._forward(scope, request, receive, send)
            return
        await self._invoke(request, send)

    async def _invoke(self, request: dict[str, Any], send) -> None:
        """MLflow's own ``invocations`` on the decoded request (it takes a dict as is: the body is parsed once),
        on a thread under MLflow's request timeout, as its app runs it."""
        from mlflow.exceptions import MlflowException
        from mlflow.pyfunc import scoring_server

        try:
            result = await asyncio.wait_for(asyncio.to_thread(
                scoring_server.invocations, request, "application/json", self.model, self.input_schema),
                timeout=self.timeout)
        except MlflowException as exc:
            status = exc.get_http_status_code()
            await _answer(send, status, clean_error(status, exc.message), code=str(exc.error_code))
            return
        except (asyncio.TimeoutError, TimeoutError):
            await _answer(send, 504, "invalid request: [timeout] request processing time exceeded "
                                     f"{self.timeout:g} s (factory serve --timeout)")
            return
        except Exception:  # a bug, not the client's mistake: no detail leaves the server
            logger.exception("prediction failed")
            await _answer(send, 500, "the server failed on this request; its log has the details",
                          code="INTERNAL_ERROR")
            return
        if result.status >= 400:
            await _answer(send, result.status, clean_error(result.status, result.response))
            return
        body = result.response.encode()
        await send({"type": "http.response.start", "status": result.status, "headers": [
            (b"content-type", result.mimetype.encode()), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _forward(self, scope, body: bytes, receive, send) -> None:
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, _Rewriter(send))

    async def _request(self, scope, receive) -> dict[str, Any] | bytes | None:
        """The checked request (a dict), or the raw body of a type left to MLflow; raises :class:`RequestError`."""
        found = dict((k, v) for k, v in scope["headers"] if k in (b"content-type", b"content-length"))
        length = found.get(b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_body:
            raise RequestError("body_size", f"the body is {int(length):,} bytes; at most {self.max_body:,} are "
                                            "accepted (factory serve --max-body-mb)", 413)
        body = await self._read(receive)
        if body is None:
            return None
        ctype = found.get(b"content-type", b"application/json")  # none given: JSON (MLflow's app answers 500)
        mime, _, options = ctype.partition(b";")
        mime = mime.strip().lower()
        if mime not in (b"text/csv", b"application/json"):
            return body
        charset = options.strip().lower()
        if charset and charset.replace(b" ", b"") not in (b"charset=utf-8", b'charset="utf-8"'):
            raise RequestError("content_type", f"only UTF-8 bodies are read; got {ctype.decode(errors='replace')!r}",
                               415)
        if len(body) > _INLINE:  # seconds of parsing must not stall the worker's other requests
            return await asyncio.to_thread(self._check, body, mime)
        return self._check(body, mime)

    def _check(self, body: bytes, mime: bytes) -> dict[str, Any]:
        request = csv_request(body) if mime == b"text/csv" else parse_json_request(body, self.max_depth)
        check_request(request, self.input_names, self.params)
        return request

    async def _read(self, receive) -> bytes | None:
        """The whole body, refused as soon as it passes the limit (chunked bodies have no Content-Length)."""
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise RequestError("body_size", f"the body passed {self.max_body:,} bytes, the most accepted "
                                                "(factory serve --max-body-mb)", 413)
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)


class _Rewriter:
    """``send`` for MLflow's app: error answers are buffered and rewritten (see :func:`clean_error`)."""

    def __init__(self, send) -> None:
        self.send = send
        self.start: dict[str, Any] | None = None
        self.parts: list[bytes] = []

    async def __call__(self, message) -> None:
        if message["type"] == "http.response.start":
            if message["status"] < 400:
                await self.send(message)
            else:
                self.start = message
            return
        if self.start is None or message["type"] != "http.response.body":
            await self.send(message)
            return
        self.parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            status = self.start["status"]
            await _answer(self.send, status, clean_error(status, b"".join(self.parts)),
                          code=_code(b"".join(self.parts)))


def clean_error(status: int, raw: bytes | str) -> str:
    """The message of an MLflow error (an answer's body or a message), starting with a check's name, short,
    without trace or paths."""
    try:
        message = str(json.loads(raw).get("message", ""))
    except (ValueError, AttributeError):
        message = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    if status >= 500 and status != 504:  # the server's fault: nothing of it leaves the server
        return "the server failed on this request; its log has the details"
    message = _PREFIX.sub("", message, count=1).strip()
    if not _CHECKED.match(message):
        check = "timeout" if status == 504 else "content_type" if status == 415 else "mlflow"
        message = f"invalid request: [{check}] {message}"
    message = _PATH.sub("<path>", message)
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 3] + "..."


def _code(raw: bytes) -> str:
    try:
        return str(json.loads(raw).get("error_code") or "BAD_REQUEST")
    except (ValueError, AttributeError):
        return "BAD_REQUEST"


async def _answer(send, status: int, message: str, *, code: str | None = None) -> None:
    # No "Connection: close" on a 413: uvicorn discards the unread rest of the body once the answer is sent (the
    # connection stays usable, and a client that sends its whole body before reading still gets the answer).
    code = code or {413: "REQUEST_LIMIT_EXCEEDED"}.get(status, "BAD_REQUEST")
    body = json.dumps({"error_code": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def create_app() -> Front:
    """The app of one uvicorn worker: loads the model named by ``FACTORY_SERVE_MODEL`` once."""
    import mlflow.pyfunc
    from mlflow.environment_variables import MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT
    from mlflow.pyfunc import scoring_server

    model = mlflow.pyfunc.load_model(os.environ[MODEL_ENV])
    return Front(scoring_server.init(model), model,
                 max_body=int(os.environ.get(MAX_BODY_ENV, DEFAULT_MAX_BODY_MB * 2**20)),
                 max_depth=int(os.environ.get(MAX_DEPTH_ENV, DEFAULT_MAX_DEPTH)),
                 timeout=MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT.get())
