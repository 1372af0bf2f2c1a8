"""One fan-out interface for the leaderboard's per-model work, so a cluster engine can replace the local pool.

An executor has ``map(fn, items)`` that yields ``(item, result)`` as each item finishes, where ``result`` is
``fn(item)``'s return value or the exception it raised: one failing item never stops the others, and the
caller decides what a failure means. ``fn`` and the items must be picklable for :class:`ProcessExecutor`
(a module-level function and plain data). Results arrive in completion order, not input order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol


class Executor(Protocol):
    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]: ...


class SerialExecutor:
    """Runs every item in this process, one after the other (debuggers and tests see everything)."""

    def map(self, fn, items):
        for item in items:
            try:
                result = fn(item)
            except Exception as exc:  # noqa: BLE001 - reported to the caller as the item's result
                result = exc
            yield item, result


class ProcessExecutor:
    """Runs items in ``workers`` fresh processes (``spawn``: no forked copy of the parent's threads or
    native libraries' state, which LightGBM and torch do not survive reliably)."""

    def __init__(self, workers: int):
        if int(workers) < 1:
            from factory.errors import ConfigError

            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.workers = int(workers)

    def map(self, fn, items):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        items = list(items)
        with ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(fn, item): item for item in items}
            for future in as_completed(futures):
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker's exception (or its death) is the item's result
                    result = exc
                yield futures[future], result


def default_workers(n_items: int) -> int:
    """``min(usable cores, n_items)``, at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, int(n_items)))


def make_executor(workers: int | None, n_items: int):
    """A :class:`SerialExecutor` for one worker, else a :class:`ProcessExecutor` (default: :func:`default_workers`)."""
    workers = default_workers(n_items) if workers is None else int(workers)
    return SerialExecutor() if workers <= 1 else ProcessExecutor(workers)
