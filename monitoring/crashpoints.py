"""Named points in a daemon cycle where a recovery test can kill the process for real.

``FACTORY_MONITOR_CRASH_AT=<point>[:<n>]`` sends SIGKILL to the daemon itself the ``n``-th time (default 1st) it
reaches ``<point>``; ``FACTORY_MONITOR_PAUSE_S=<seconds>`` sleeps at every point, so that a kill from outside at
a random moment lands inside a cycle rather than in the idle wait. Unset (the normal case), both cost one
dictionary lookup. Points, in cycle order: ``resolved``, ``window_read``, ``checked``, ``report_saved``,
``metrics_logged``, ``alert_written``, ``webhook_queued``, ``tagged``, ``state_saved``; and in the webhook worker
thread, ``webhook_delivered`` (the receiver answered 2xx, nothing recorded yet) and ``webhook_acked`` (recorded and
removed from the queue).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

CRASH_ENV = "FACTORY_MONITOR_CRASH_AT"
PAUSE_ENV = "FACTORY_MONITOR_PAUSE_S"
POINTS = ("resolved", "window_read", "checked", "report_saved", "metrics_logged", "alert_written", "webhook_queued",
          "tagged", "state_saved", "webhook_delivered", "webhook_acked")

_hits: Counter = Counter()


def reached(point: str) -> None:
    """Mark ``point``; kill or pause the process when the environment asks for it."""
    pause = os.environ.get(PAUSE_ENV)
    if pause:
        time.sleep(float(pause))
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != point:
        return
    _hits[point] += 1
    if _hits[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
