"""The inference log: one Parquet file per served prediction, written atomically, and a reader for it.

With ``FACTORY_INFERENCE_LOG=DIR`` set for the serving process, every prediction adds one file
``DIR/<model>/<received>-<request id>.parquet`` where ``<model>`` is the registered model name (the run id for a
model that was never registered), ``<received>`` the UTC time the request reached the model as
``%Y%m%dT%H%M%S%fZ`` and ``<request id>`` a random UUID in hex. Columns, in order:

=======================  =======================================================================
column                   content
=======================  =======================================================================
``request_id``           string, the UUID of the file name
``received_at``          timestamp[us, UTC]
``timestamp``            timestamp[ns, UTC] of the predicted bar
model inputs             the model metadata's ``feature_names`` in order (float32 or float64)
``pred_<output>``        the served outputs: ``pred_prob_down`` ... ``pred_ret_q95`` (``pred_signal``: int64)
=======================  =======================================================================

One row per predicted bar (one with ``last_only``). The file's key-value metadata carries the model identity
(``factory.model_name``, ``factory.model_version``, ``factory.run_id``, ``factory.model_uuid``).

Files are written under a dot-prefixed temporary name in the same folder and renamed with ``os.replace``:
a reader never sees a torn file, and a crash leaves at most a ``.tmp-*`` file that :func:`read_inference_log`
ignores. ``FACTORY_INFERENCE_LOG_FSYNC=1`` also fsyncs each file before the rename and its folder after it,
so a logged prediction survives a power loss too (without it, it survives any crash of the server process).

``FACTORY_INFERENCE_LOG_MODE`` chooses when the file is written (any other value fails the model's load):

* ``sync`` (the default): ``predict`` writes the file before it returns, so a prediction is on disk before
  its response is sent; a SIGKILL of the server never loses an answered prediction. A write that fails raises
  :class:`InferenceLogWriteError` (the server answers 503 with the reason, see
  :mod:`factory.packaging.pyfunc`): an answered prediction is a logged one, and a disk that is full or gone is a
  server fault the client should hear about, not a silent gap in the audit trail.
* ``async``: one background thread writes the file a few milliseconds after the prediction, off the request's
  path. A full queue (1024 records) makes the request write its own file, and a normal shutdown flushes the
  queue, but a hard kill or power loss loses the predictions still queued (the last few answered ones), and a
  write that fails is only a logged warning.

Cost (``python benchmarks/inference_log.py``: LightGBM, default feature set of 196 inputs, sequential
``last_only`` requests of ``min_bars`` = 1,380 bars against real servers; two runs on two cores shared with other
jobs): p50 39.9 / 42.6 ms with the log off, 48.1 / 50.7 ms sync, 48.1 / 46.9 ms async, 55.8 / 56.2 ms sync with
fsync (p99 79-115 ms in every mode, load-bound). The file costs ~4.6 ms of server CPU per request in both modes
(Parquet encoding of ~200 columns holds the GIL), so on a busy 2-core machine async saves 0-4 ms of p50; one sync
append alone takes 2.8-6.4 ms p50 depending on load (12 ms with fsync).
"""

from __future__ import annotations

import atexit
import datetime as _dt
import logging
import os
import queue
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from factory.errors import FactoryError

ENV = "FACTORY_INFERENCE_LOG"
FSYNC_ENV = "FACTORY_INFERENCE_LOG_FSYNC"
MODE_ENV = "FACTORY_INFERENCE_LOG_MODE"
MODES = ("sync", "async")  # the first is the default
TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"
TMP_PREFIX = ".tmp-"
PRED_PREFIX = "pred_"
LEAD_COLUMNS = ("request_id", "received_at", "timestamp")
OUTPUT_NAMES = ("prob_down", "prob_flat", "prob_up", "signal", "expected_return", "ret_q05", "ret_q50", "ret_q95")
QUEUE_SIZE = 1024
# Async mode: seconds a queued record waits before it is written. Parquet encoding holds the GIL, so writing at
# once would hold back the response of the very request being logged.
WRITE_DELAY = 0.003
_FILE_NAME = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{32}\.parquet$")
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)

logger = logging.getLogger(__name__)


class InferenceLogError(FactoryError):
    """The inference log is misconfigured or its folder unusable (reported when the model loads)."""


class InferenceLogWriteError(FactoryError):
    """A synchronous append could not write its file: the prediction must not be answered as if logged."""


# ----------------------------------------------------------------------------------------------------- format
def file_name(received_us: int, request_id: str) -> str:
    """``<UTC receive time>-<request id>.parquet``; names sort in receive order."""
    stamp = (_EPOCH + _dt.timedelta(microseconds=int(received_us))).strftime(TIME_FORMAT)
    return f"{stamp}-{request_id}.parquet"


def received_time(path: str | Path) -> _dt.datetime:
    """The receive time encoded in a log file's name (UTC)."""
    return _dt.datetime.strptime(Path(path).name.split("-", 1)[0], TIME_FORMAT).replace(tzinfo=_dt.timezone.utc)


def log_columns(feature_names: list[str]) -> list[str]:
    """Every column of a log file, in order."""
    return [*LEAD_COLUMNS, *feature_names, *(PRED_PREFIX + n for n in OUTPUT_NAMES)]


def folder_name(name: str) -> str:
    """A registered name (or run id) as one path component, a different one for each name.

    A name made of ``A-Za-z0-9._-`` only (no leading or trailing dot) is its own folder name. Any other name is
    made safe and gains ``-`` and 8 hex characters of the SHA-256 of the exact name (``"sec test a"`` ->
    ``sec_test_a-<hash>``, while ``"sec_test_a"`` stays ``sec_test_a``), so two names never share a folder. A safe
    name that already ends like such a suffix gets one too, keeping kept and suffixed names apart.
    """
    import hashlib

    name = str(name)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".")
    if name and safe == name and not re.search(r"-[0-9a-f]{8}$", name):
        return name
    return f"{safe[:120] or 'model'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


@dataclass
class _Record:
    """One prediction, as plain arrays, waiting to be written."""

    request_id: str
    received_us: int
    timestamps_ns: np.ndarray  # (n,) int64, UTC
    inputs: np.ndarray  # (n, n_features)
    outputs: dict[str, np.ndarray]  # OUTPUT_NAMES -> (n,)
    queued_at: float = 0.0  # time.monotonic() when queued


class _TableBuilder:
    """Record -> Arrow table, with the schema built once per input dtype (the columns never change)."""

    def __init__(self, feature_names: list[str], metadata: dict[bytes, bytes]) -> None:
        self.feature_names = list(feature_names)
        self.columns = log_columns(self.feature_names)
        self.metadata = metadata
        self._schemas: dict[tuple, object] = {}

    def _schema(self, arrays: list):
        import pyarrow as pa

        key = tuple(a.type for a in arrays)
        schema = self._schemas.get(key)
        if schema is None:
            schema = pa.schema([pa.field(c, t) for c, t in zip(self.columns, key)], metadata=self.metadata)
            self._schemas[key] = schema
        return schema

    def __call__(self, record: _Record):
        import pyarrow as pa

        n = len(record.timestamps_ns)
        if record.inputs.shape != (n, len(self.feature_names)):
            raise ValueError(f"inputs of shape {record.inputs.shape}, expected ({n}, {len(self.feature_names)})")
        # One Arrow array of the (features, rows) copy, sliced per feature: slices share its buffer.
        flat = pa.array(np.ascontiguousarray(record.inputs.T).ravel())
        arrays = [
            pa.array([record.request_id] * n, type=pa.string()),
            pa.array(np.full(n, record.received_us, dtype=np.int64), type=pa.timestamp("us", tz="UTC")),
            pa.array(np.asarray(record.timestamps_ns, dtype=np.int64), type=pa.timestamp("ns", tz="UTC")),
            *(flat.slice(j * n, n) for j in range(len(self.feature_names))),
            *(pa.array(record.outputs[k]) for k in OUTPUT_NAMES),
        ]
        return pa.Table.from_arrays(arrays, schema=self._schema(arrays))


def encode(table):
    """The Parquet bytes of ``table`` (a ``pyarrow.Buffer``, which file writes accept as is).

    Encoded in memory, not through a Python file object: the C++ writer would call back into Python (and take
    the GIL) for every column chunk, stalling the request threads of a live server.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    # No dictionary pages or statistics: rows are few per file and the writer sits next to a live server.
    pq.write_table(table, sink, use_dictionary=False, write_statistics=False, compression="none")
    return sink.getvalue()


def write_atomically(data: bytes, folder: Path, name: str, fsync: bool = False) -> Path:
    """Write ``data`` to ``folder/name`` through a temporary file and ``os.replace``; returns the final path.

    ``fsync``: flush the file to the device before the rename and the folder after it (power-loss durable).
    """
    final = folder / name
    tmp = folder / f"{TMP_PREFIX}{name}"
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    if fsync:
        _fsync_folder(folder)
    return final


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX only: Windows cannot open a folder to fsync it)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------------------- writer
class InferenceLog:
    """Appends one file per prediction under ``folder`` (see the module docstring); thread-safe.

    ``background=False`` (sync, the default): :meth:`append` returns once the file is in place and raises
    :class:`InferenceLogWriteError` when it cannot be. ``background=True`` (async): :meth:`append` queues the
    record for the writer thread and never raises.
    """

    def __init__(self, folder: str | Path, feature_names: list[str], *, metadata: dict[str, Any] | None = None,
                 background: bool = False, fsync: bool = False) -> None:
        self.folder = Path(folder)
        self.feature_names = list(feature_names)
        self.fsync = bool(fsync)
        self.background = bool(background)
        meta = {f"factory.{k}".encode(): str(v).encode() for k, v in (metadata or {}).items() if v is not None}
        meta[b"factory.inference_log_format"] = b"1"
        self._table = _TableBuilder(self.feature_names, meta)
        _check_writable(self.folder)
        self._queue: queue.Queue[_Record | None] | None = None
        self._thread: threading.Thread | None = None
        if self.background:
            self._start()
            atexit.register(self.close)
            if hasattr(os, "register_at_fork"):
                # A forked child has the queue but not the thread: give it its own writer.
                os.register_at_fork(after_in_child=self._start)

    @property
    def mode(self) -> str:
        return "async" if self.background else "sync"

    def _start(self) -> None:
        self._queue = queue.Queue(maxsize=QUEUE_SIZE)
        self._thread = threading.Thread(target=self._drain, args=(self._queue,), name="factory-inference-log",
                                        daemon=True)
        self._thread.start()

    def append(self, received_us: int, request_id: str, timestamps_ns: np.ndarray, inputs: np.ndarray,
               outputs: dict[str, np.ndarray]) -> Path | None:
        """Log one prediction.

        Sync: returns the path of the file, already in place; raises :class:`InferenceLogWriteError` when it
        cannot be written. Async: returns ``None`` at once and never raises (a failure is a logged warning).
        """
        if not self.background:
            try:
                return self._write(_Record(request_id, int(received_us), timestamps_ns, inputs, outputs))
            except Exception as exc:  # noqa: BLE001 - any cause means the prediction is not logged
                logger.error("inference log: could not write the file of request %s in %s: %s", request_id,
                             self.folder, exc)
                raise InferenceLogWriteError(f"the inference log could not write the file of request {request_id} "
                                             f"in '{self.folder}': {exc}") from exc
        try:
            record = _Record(request_id, int(received_us), timestamps_ns, inputs, outputs, time.monotonic())
            pending = self._queue
            if pending is not None:
                try:
                    pending.put_nowait(record)
                    return None
                except queue.Full:
                    pass  # the writer is behind: this request writes its own file rather than drop it
            self._write_or_warn(record)
        except Exception as exc:  # noqa: BLE001 - async mode never fails a prediction
            logger.warning("inference log: could not log request %s: %s", request_id, exc)
        return None

    def _write(self, record: _Record) -> Path:
        data = encode(self._table(record))
        return write_atomically(data, self.folder, file_name(record.received_us, record.request_id), self.fsync)

    def _write_or_warn(self, record: _Record) -> Path | None:
        try:
            return self._write(record)
        except Exception as exc:  # noqa: BLE001
            logger.warning("inference log: could not write the file of request %s in %s: %s", record.request_id,
                           self.folder, exc)
            return None

    def _drain(self, pending: queue.Queue) -> None:
        while True:
            record = pending.get()
            try:
                if record is None:
                    return
                wait = record.queued_at + WRITE_DELAY - time.monotonic()
                if wait > 0:  # only when idle: a backlog is written without pause
                    time.sleep(wait)
                self._write_or_warn(record)
            finally:
                pending.task_done()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait (at most ``timeout`` seconds) until every queued prediction is on disk; True when done."""
        pending = self._queue
        if pending is None:
            return True
        done = threading.Event()

        def wait() -> None:
            pending.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Async: write what is queued and stop the background thread; later appends are written at once (and
        still never raise). Sync: nothing to do."""
        pending, thread = self._queue, self._thread
        if pending is None or thread is None:
            return
        self._queue = None
        if thread.is_alive():
            try:
                pending.put(None, timeout=timeout)  # after everything already queued
            except queue.Full:
                return
            thread.join(timeout)


def _check_writable(folder: Path) -> None:
    """Create ``folder`` and prove a file can be written, renamed and removed there."""
    probe = folder / f"{TMP_PREFIX}probe-{uuid.uuid4().hex}"
    moved = folder / f"{TMP_PREFIX}probe-{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        os.replace(probe, moved)
        moved.unlink()
    except OSError as exc:
        raise InferenceLogError(f"{ENV}: cannot write inference log files in '{folder}' ({exc.strerror or exc}); "
                                f"point {ENV} at a writable folder or unset it") from None


def log_mode(environ=os.environ) -> str:
    """``$FACTORY_INFERENCE_LOG_MODE`` checked: ``sync`` (unset or empty) or ``async``."""
    raw = environ.get(MODE_ENV, "")
    mode = raw.strip().lower() or MODES[0]
    if mode not in MODES:
        raise InferenceLogError(f"{MODE_ENV}={raw!r} is not one of {', '.join(MODES)} (sync, the default, writes "
                                f"each prediction's log file before its response; async writes it just after)")
    return mode


def open_from_env(name: str, feature_names: list[str], metadata: dict[str, Any] | None = None,
                  environ=os.environ) -> InferenceLog | None:
    """The log of model ``name`` under ``$FACTORY_INFERENCE_LOG``, or ``None`` when the variable is unset/empty.

    The mode comes from ``$FACTORY_INFERENCE_LOG_MODE`` and fsync from ``$FACTORY_INFERENCE_LOG_FSYNC``. Raises
    :class:`InferenceLogError` when the folder cannot be used or the mode is unknown (checked even without the
    log), so a misconfigured server fails at start instead of serving without the log it was asked to keep.
    """
    mode = log_mode(environ)
    root = environ.get(ENV, "").strip()
    if not root:
        return None
    base = Path(root).expanduser()
    if base.exists() and not base.is_dir():
        raise InferenceLogError(f"{ENV}={root} is a file, not a folder")
    fsync = environ.get(FSYNC_ENV, "").strip().lower() in ("1", "true", "yes")
    return InferenceLog(base / folder_name(name), feature_names, metadata=metadata, fsync=fsync,
                        background=mode == "async")


# ----------------------------------------------------------------------------------------------------- reader
def _stamp(name: str) -> str:
    return name.split("-", 1)[0]


def _keep(names: list[str], bound, newer: bool) -> list[str]:
    """Names strictly after (``newer``) or before ``bound``: a datetime (naive = UTC) or a file name / path."""
    if bound is None:
        return names
    if isinstance(bound, _dt.datetime):
        when = bound if bound.tzinfo else bound.replace(tzinfo=_dt.timezone.utc)
        # Fixed-width stamps compare as text in time order.
        ref = when.astimezone(_dt.timezone.utc).strftime(TIME_FORMAT)
        return [n for n in names if (_stamp(n) > ref if newer else _stamp(n) < ref)]
    ref = Path(bound).name
    return [n for n in names if (n > ref if newer else n < ref)]


def read_inference_log(folder: str | Path, after=None, before=None) -> list[Path]:
    """Complete log files of one model folder (``DIR/<model>``), oldest first.

    ``after`` / ``before``: a datetime (receive time, naive = UTC) or a file name or path; only files strictly
    after / before it are listed. Temporary (``.tmp-*``) and foreign files are ignored. A file appears once its
    prediction is written, so a slow request can land after a quicker one received later: a consumer that
    resumes from ``after`` should also pass ``before`` a few seconds in the past and let the newest files settle.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    names = sorted(e.name for e in os.scandir(root) if _FILE_NAME.match(e.name) and e.is_file())
    names = _keep(_keep(names, after, newer=True), before, newer=False)
    return [root / n for n in names]


def load_inference_rows(files: list[str | Path]):
    """The rows of ``files`` (e.g. from :func:`read_inference_log`) as one DataFrame, in file order."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not files:
        return pd.DataFrame()
    tables = [pq.read_table(f) for f in files]
    return pa.concat_tables(tables, promote_options="default").to_pandas()
