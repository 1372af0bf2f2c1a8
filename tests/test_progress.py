"""Progress bars go to stderr and do not flood a log that is not a terminal (``mlflow run``, CI)."""

from __future__ import annotations

import io
import sys

from factory.progress import NON_TTY_INTERVAL_S, progress_bar


class _Log(io.StringIO):
    def isatty(self) -> bool:
        return False


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_in_a_log_writes_each_step_but_not_each_update(monkeypatch):
    log = _Log()
    monkeypatch.setattr(sys, "stderr", log)
    with progress_bar(10_000, "pipeline") as bar:
        assert bar.mininterval == NON_TTY_INTERVAL_S
        bar.set_description("features")
        for _ in range(10_000):
            bar.update()
    text = log.getvalue()
    assert "features:" in text
    # The opening line, the new description and the close: no redraw per update.
    assert text.count("\r") <= 4, text.count("\r")


def test_a_bar_on_a_terminal_redraws_often(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    with progress_bar(3, "pipeline") as bar:
        assert bar.mininterval == 0.1


def test_a_disabled_bar_writes_nothing(monkeypatch):
    log = _Log()
    monkeypatch.setattr(sys, "stderr", log)
    with progress_bar(3, "pipeline", disable=True) as bar:
        bar.set_description("features")
        bar.update()
    assert log.getvalue() == ""
