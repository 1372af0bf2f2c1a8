"""One progress-bar factory for the whole factory: tqdm on stderr, so bars show under ``mlflow run`` too.

When stderr is not a terminal (``mlflow run`` piping it, a CI log, a file) carriage returns do not redraw a
line, they pile up: there a bar redraws at most every ``NON_TTY_INTERVAL_S`` seconds on its own (explicit
refreshes, such as a new step's description or an epoch's losses, still write at once: one line per step).
"""

from __future__ import annotations

import sys

NON_TTY_INTERVAL_S = 15.0


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def progress_bar(total: int, desc: str, unit: str = "step", disable: bool = False, **kwargs):
    from tqdm.auto import tqdm

    stream = sys.stderr
    kwargs.setdefault("mininterval", 0.1 if _is_tty(stream) else NON_TTY_INTERVAL_S)
    return tqdm(total=total, desc=desc, unit=unit, file=stream, disable=disable, leave=False, **kwargs)
