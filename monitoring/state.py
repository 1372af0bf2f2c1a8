"""The daemon's position per watched model, kept on disk and replaced atomically.

``<state_dir>/<model folder>.state.json`` holds the log cursor, the number of windows processed (the next window's
index, used as the MLflow step) and a summary of the last window; the model folder is the model's inference-log
folder name (:func:`serving.inference_log.folder_name`), different for any two registered names. The file is
written to a temporary file, ``fsync``-ed and renamed over the old one, and only after the window's alert is
durably in the JSONL file: a crash leaves either the old or the new position, and re-processing a window from the
old one finds its alert already there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from monitoring.log_reader import Cursor

STATE_FORMAT = 1


@dataclass
class ModelState:
    folder: str
    cursor: Cursor = field(default_factory=Cursor)
    window_index: int = 0
    version: str | None = None
    last_window: dict[str, Any] | None = None
    updated_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "folder": self.folder, "cursor": self.cursor.as_dict(),
                "window_index": self.window_index, "version": self.version, "last_window": self.last_window,
                "updated_at": self.updated_at}


class StateStore:
    """Loads and atomically saves :class:`ModelState` files under one folder."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, model_folder: str) -> Path:
        return self.folder / f"{model_folder}.state.json"

    def load(self, model_folder: str) -> ModelState:
        p = self.path(model_folder)
        if not p.is_file():
            return ModelState(model_folder)
        data = json.loads(p.read_text())
        return ModelState(model_folder, Cursor.from_dict(data.get("cursor")), int(data.get("window_index", 0)),
                          data.get("version"), data.get("last_window"), data.get("updated_at"))

    def save(self, state: ModelState) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        state.updated_at = datetime.now(timezone.utc).isoformat()
        final = self.path(state.folder)
        tmp = final.with_name(f".{final.name}.tmp")
        with open(tmp, "w") as fh:
            json.dump(state.as_dict(), fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        # The rename itself must survive a power cut too.
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
