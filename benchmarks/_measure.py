"""What several benchmarks measure the same way: peak memory of this process, a probe in a fresh subprocess that
prints its figures as one JSON line, and the machine's load average."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path


def rss_bytes() -> int:
    """The resident set now (``ru_maxrss`` where ``/proc`` is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_hwm() -> bool:
    """Reset Linux's peak resident set (``VmHWM``); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_bytes(from_proc: bool) -> int:
    if from_proc:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """Peak resident-set rise over the resident set at construction (VmHWM reset there where Linux allows)."""

    def __init__(self) -> None:
        import gc

        gc.collect()
        self.rss0 = rss_bytes()
        self.from_proc = reset_hwm()
        self.base_peak = peak_bytes(self.from_proc)

    def rise(self) -> int:
        peak = peak_bytes(self.from_proc)
        return int(peak - (self.rss0 if self.from_proc else max(self.rss0, self.base_peak)))

    @property
    def method(self) -> str:
        return "VmHWM" if self.from_proc else "ru_maxrss"


def run_json_probe(script: str, argv: list[str], timeout_s: float, env: dict[str, str] | None = None) -> dict:
    """Run ``script argv`` in a fresh Python process (one thread per BLAS / OpenMP pool, progress bars off) and
    return the last JSON line it printed, or ``{"error": ...}`` with the end of its output."""
    cmd = [sys.executable, str(Path(script).resolve()), *argv]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "FACTORY_PROGRESS": "0",
                "PYTHONWARNINGS": "ignore", **(env or {})}
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:g} s"}
    lines = [ln for ln in res.stdout.strip().splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit code {res.returncode}"}
    return json.loads(lines[-1])


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


def burst(server, body: bytes, total: int, concurrency: int) -> tuple[float, int]:
    """(seconds, non-2xx answers) of ``total`` POSTs of ``body`` from ``concurrency`` threads, one connection each.

    A connection the server drops counts as a failure and is reopened, so a crash shows as failures, not a hang.
    """
    import threading
    import time

    failures = [0] * concurrency
    share = [total // concurrency + (1 if t < total % concurrency else 0) for t in range(concurrency)]

    def worker(t: int) -> None:
        c = server.connection()
        for _ in range(share[t]):
            try:
                status, _ = server.post_raw(body, conn=c)
            except OSError:
                status = 0
                c.close()
                c = server.connection()
            if not 200 <= status < 300:
                failures[t] += 1
        c.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(concurrency)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t0, sum(failures)
