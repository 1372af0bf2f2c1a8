"""``factory serve``'s ASGI app: MLflow's own scoring app behind a thin layer that refuses bad requests cleanly.

:func:`create_app` (the uvicorn factory each worker calls once) loads the model with ``mlflow.pyfunc.load_model``
and builds MLflow's app with ``mlflow.pyfunc.scoring_server.init``: the same ``/ping``, ``/health``, ``/version``
and ``/invocations``, the same input layouts and outputs. :class:`Front` wraps it; on ``POST /invocations`` it

* answers 413 when ``Content-Length`` is over the limit, before reading, and stops reading a chunked body as soon as
  it passes the limit;
* reads a request without ``Content-Type`` as JSON (MLflow's app answers it with a 500);
* runs :mod:`serving.front_checks` (depth, encoding, layout, columns, params) and turns a ``text/csv`` body into
  ``dataframe_split`` JSON;
* rewrites MLflow's error answers: the ``Failed to predict data '<the whole frame>'`` prefix and the stack trace
  are dropped, a message that does not name a check gets ``invalid request: [mlflow]``, and long messages are cut,
  so every 400 starts with the check's name and carries no server path.

Settings come from environment variables (set by :mod:`serving.front_cli`, read in each worker).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from serving.front_checks import RequestError, check_request, csv_request, parse_json_request

MODEL_ENV = "FACTORY_SERVE_MODEL"
MAX_BODY_ENV = "FACTORY_SERVE_MAX_BODY_BYTES"
MAX_DEPTH_ENV = "FACTORY_SERVE_MAX_JSON_DEPTH"
DEFAULT_MAX_BODY_MB = 32  # 100,000 bars (FACTORY_MAX_ROWS) in the widest layout are about 12 MB
DEFAULT_MAX_DEPTH = 32
MAX_MESSAGE = 1000
_CHECKED = re.compile(r"^invalid (bars|request): \[")
_PREFIX = re.compile(r"^Failed to predict data '.*?'\. \nError: ", re.DOTALL)
_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.+-]+/)+[\w.+-]*")


class Front:
    """ASGI middleware around MLflow's scoring app (see the module docstring)."""

    def __init__(self, app, *, max_body: int, max_depth: int, input_names: list[str], params: list[str]) -> None:
        self.app = app
        self.max_body = int(max_body)
        self.max_depth = int(max_depth)
        self.input_names = list(input_names)
        self.params = list(params)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/invocations" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            body, headers = await self._request(scope, receive)
        except RequestError as exc:
            await _answer(send, exc.status, str(exc))
            return
        if body is None:  # the client went away
            return
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app({**scope, "headers": headers}, replay, _Rewriter(send))

    async def _request(self, scope, receive) -> tuple[bytes | None, list[tuple[bytes, bytes]]]:
        """The checked body (JSON) and the headers to hand on; raises :class:`RequestError`."""
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        found = dict((k, v) for k, v in scope["headers"] if k in (b"content-type", b"content-length"))
        length = found.get(b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_body:
            raise RequestError("body_size", f"the body is {int(length):,} bytes; at most {self.max_body:,} are "
                                            "accepted (factory serve --max-body-mb)", 413)
        body = await self._read(receive)
        if body is None:
            return None, headers
        mime = found.get(b"content-type", b"application/json").split(b";", 1)[0].strip().lower()
        if mime == b"text/csv":
            request = csv_request(body)
            check_request(request, self.input_names, self.params)
            body = json.dumps(request).encode()
        elif mime == b"application/json":
            check_request(parse_json_request(body, self.max_depth), self.input_names, self.params)
        else:  # MLflow's own answer (415, listing the types it reads)
            headers.append((b"content-type", found[b"content-type"]))
            return body, headers + [(b"content-length", str(len(body)).encode())]
        kept = found.get(b"content-type", b"application/json") if mime == b"application/json" else None
        headers.append((b"content-type", kept or b"application/json"))
        return body, headers + [(b"content-length", str(len(body)).encode())]

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


def clean_error(status: int, raw: bytes) -> str:
    """The message of an MLflow error answer, starting with a check's name, short, without trace or paths."""
    try:
        message = str(json.loads(raw).get("message", ""))
    except (ValueError, AttributeError):
        message = raw.decode("utf-8", errors="replace")
    message = _PREFIX.sub("", message, count=1).strip()
    if status >= 500 and status != 504:
        message = "the server failed on this request; its log has the details"
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
    from mlflow.pyfunc import scoring_server

    model = mlflow.pyfunc.load_model(os.environ[MODEL_ENV])
    params_schema = model.metadata.get_params_schema()
    input_schema = model.metadata.get_input_schema()
    inputs = [s.name for s in input_schema.inputs if s.name and s.required] if input_schema else []
    return Front(scoring_server.init(model),
                 max_body=int(os.environ.get(MAX_BODY_ENV, DEFAULT_MAX_BODY_MB * 2**20)),
                 max_depth=int(os.environ.get(MAX_DEPTH_ENV, DEFAULT_MAX_DEPTH)),
                 input_names=inputs, params=[p.name for p in params_schema.params] if params_schema else [])
