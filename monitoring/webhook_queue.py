"""The webhook's pending alerts on disk: one JSON file per alert, ``<state_dir>/webhook-queue/<alert_id>.json``.

A file holds the alert, how many delivery rounds failed and when the next one is due (wall-clock seconds, so a
restarted daemon keeps the backoff where it was). Each write goes to a temporary dot-file that is ``fsync``-ed and
renamed over the old one, and the folder is ``fsync``-ed after a rename or a removal: a crash leaves the old or the
new content of a file, never a torn one. Whoever holds the queue (one daemon per state folder) keeps it in memory
too and writes through on every change.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

QUEUE_FOLDER = "webhook-queue"
_FILE = re.compile(r"^[0-9A-Za-z_-]+\.json$")


@dataclass
class PendingAlert:
    """One alert waiting for the webhook."""

    alert: dict[str, Any]
    enqueued_at: float
    attempts: int = 0  # failed delivery rounds so far
    next_try_at: float = 0.0  # wall-clock seconds
    last_error: str | None = None

    @property
    def alert_id(self) -> str:
        return self.alert["alert_id"]


class AlertQueue:
    """The folder of :class:`PendingAlert` files."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def exists(self) -> bool:
        return self.folder.is_dir()

    def create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _fsync_dir(self.folder.parent)

    def path(self, alert_id: str) -> Path:
        name = f"{alert_id}.json"
        if not _FILE.match(name):
            raise ValueError(f"alert id {alert_id!r} cannot name a queue file")
        return self.folder / name

    def load(self) -> list[PendingAlert]:
        """Every queued alert, oldest first; leftovers of an interrupted write are removed."""
        if not self.folder.is_dir():
            return []
        items = []
        for p in sorted(self.folder.iterdir()):
            if p.name.startswith(".") and p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)  # a write killed before its rename: the old file (if any) still stands
                continue
            if not _FILE.match(p.name):
                continue
            try:
                data = json.loads(p.read_text())
                item = PendingAlert(data["alert"], float(data["enqueued_at"]), int(data.get("attempts", 0)),
                                    float(data.get("next_try_at", 0.0)), data.get("last_error"))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                logger.warning("%s: not a queued alert (%s); left in place and ignored", p, exc)
                continue
            items.append(item)
        return sorted(items, key=lambda i: (i.enqueued_at, i.alert_id))

    def put(self, item: PendingAlert) -> None:
        """Write ``item`` (new or updated) atomically."""
        final = self.path(item.alert_id)
        tmp = final.with_name(f".{final.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(asdict(item), fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(self.folder)

    def remove(self, alert_id: str) -> None:
        self.path(alert_id).unlink(missing_ok=True)
        _fsync_dir(self.folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
