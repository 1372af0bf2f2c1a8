"""Reading a model's inference log from a saved position onwards.

The log (written by :mod:`serving.inference_log`) is one Parquet file per prediction, named so that names sort in
receive order. The daemon's position is a :class:`Cursor`: every row of every file named before ``file`` and the
first ``row`` rows of ``file`` have been consumed. A window may end inside a file (a request for many bars logs
many rows), hence the row part.

Files are read once and kept in memory until the cursor passes them, so a window that fills slowly over many
polls does not re-read its files each time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from factory.parquet import read_parquet
from serving.inference_log import read_inference_log, received_time

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cursor:
    """Position in a log folder: files before ``file`` and ``row`` rows of ``file`` are consumed."""

    file: str = ""
    row: int = 0

    def as_dict(self) -> dict:
        return {"file": self.file, "row": self.row}

    @classmethod
    def from_dict(cls, data: dict | None) -> "Cursor":
        data = data or {}
        return cls(str(data.get("file") or ""), int(data.get("row") or 0))


@dataclass(frozen=True)
class Chunk:
    """The not yet consumed rows of one log file: ``frame`` holds rows ``offset..`` of file ``name``."""

    name: str
    offset: int
    frame: pd.DataFrame


class LogReader:
    """Pending rows of one model folder (``DIR/<registered name>``)."""

    def __init__(self, folder: str | Path, settle_s: float = 0.0) -> None:
        self.folder = Path(folder)
        self.settle_s = float(settle_s)
        self._cache: dict[str, pd.DataFrame] = {}

    def pending(self, cursor: Cursor, now: datetime | None = None) -> list[Chunk]:
        """Settled rows after ``cursor``, oldest first (files newer than ``now - settle_s`` wait)."""
        now = now or datetime.now(timezone.utc)
        before = now - timedelta(seconds=self.settle_s) if self.settle_s > 0 else None
        names = [p.name for p in read_inference_log(self.folder, before=before)]
        names = [n for n in names if n >= cursor.file]
        # Forget files the cursor has passed.
        for old in [n for n in self._cache if n < cursor.file]:
            del self._cache[old]
        chunks = []
        for name in names:
            frame = self._read(name)
            offset = cursor.row if name == cursor.file else 0
            if offset >= len(frame):
                continue
            chunks.append(Chunk(name, offset, frame.iloc[offset:]))
        return chunks

    def _read(self, name: str) -> pd.DataFrame:
        frame = self._cache.get(name)
        if frame is None:
            try:
                frame = read_parquet(self.folder / name)
            except Exception as exc:  # noqa: BLE001 - one unreadable file must not stop the daemon
                logger.warning("inference log: skipping unreadable file %s: %s", self.folder / name, exc)
                frame = pd.DataFrame()
            if len(frame) and "received_at" not in frame.columns:
                frame["received_at"] = pd.Timestamp(received_time(name))
            self._cache[name] = frame
        return frame
