"""Where a worker's threads run: on one CPU (`WORKER_CPU_AFFINITY=auto`), and its helper
threads as batch work for the scheduler (always, on Linux; `helper_thread`).

A worker is one event loop and its helper threads (the SQLite store's writer and reader, the
log writer); they hand the GIL to each other on every store call. When the scheduler spreads
them over several cores, each handoff crosses cores and the event loop's throughput falls
(measure it: `python -m bench --workers 1 --worker-cpu-affinity off` against the default
`auto`). With `auto`, worker `i` keeps every thread on the `i`-th CPU the process may use,
when the workers leave at least one CPU free: with as many workers as CPUs, pinned workers
cannot make way for the rest of the machine, so the scheduler keeps them.

Only a worker pins itself. Sanic builds the app in its main process too, and the workers it
starts inherit that process's affinity: a main process pinned to the first CPU would keep
every worker on that one CPU.

Off by default: several single-worker containers on one host would all pick the same first
CPU. Linux only (elsewhere `auto` changes nothing and says so).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

log = logging.getLogger("rakubun")

POLICIES = ("off", "auto")
_WORKER_NAME = re.compile(r"Sanic-Server-(\d+)-")


def worker_index(name: str | None) -> int:
    """Sanic names worker `i` `Sanic-Server-i-j`; a single process has no name: 0."""
    match = _WORKER_NAME.match(name or "")
    return int(match.group(1)) if match else 0


def worker_cpu(policy: str, workers: int, cpus: set[int], worker_name: str | None) -> int | None:
    """The CPU a process keeps its threads on: with `auto`, worker `i` (of `workers`, fewer
    than `cpus`) on the `i`-th CPU. None: nothing is pinned, as for the main process of
    several workers (no worker name), whose affinity its workers would inherit."""
    if policy != "auto" or workers >= len(cpus):
        return None
    if workers > 1 and not _WORKER_NAME.match(worker_name or ""):
        return None
    ordered = sorted(cpus)
    return ordered[worker_index(worker_name) % len(ordered)]


def pin_worker(policy: str, workers: int, worker_name: str | None = None) -> int | None:
    """With `auto`, and fewer `workers` than CPUs, keep this worker's threads, and those it
    starts later, on one CPU (see `worker_cpu`); answers that CPU (None when nothing was
    pinned). `worker_name` defaults to the one Sanic gives the process (`SANIC_WORKER_NAME`)."""
    if policy != "auto":
        return None
    if not hasattr(os, "sched_setaffinity"):
        log.warning("WORKER_CPU_AFFINITY=auto needs Linux; the workers are not pinned")
        return None
    name = worker_name if worker_name is not None else os.environ.get("SANIC_WORKER_NAME")
    cpu = worker_cpu(policy, workers, os.sched_getaffinity(0), name)
    if cpu is None:
        return None
    # Linux keeps an affinity per thread: pin those already running, and the calling one,
    # whose affinity every thread started from now on inherits.
    for thread_id in _thread_ids():
        try:
            os.sched_setaffinity(thread_id, {cpu})
        except ProcessLookupError:
            pass  # it ended meanwhile
    os.sched_setaffinity(0, {cpu})
    return cpu


def helper_thread() -> bool:
    """Mark the calling thread as batch work (Linux's SCHED_BATCH, same priority): when it
    wakes, it waits for the running thread's turn to end instead of cutting in.

    The worker's helper threads (the SQLite store's reader, the log writer) need the GIL,
    which the event loop holds while it works: a helper that cut in on the loop's CPU found
    the GIL taken and slept again, two context switches for nothing. Marked, the reader
    answers more reads per wake-up and the loop is cut in on less (`python -m bench --only
    credits` measures reads). Not the store's writer: it may hold the lock file other
    workers' writers wait on, and marked it kept them waiting (2 workers' deductions' p99).
    Answers whether the thread is marked (not off Linux, nor where the kernel refuses)."""
    if not hasattr(os, "SCHED_BATCH"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError:
        return False
    return True


def _thread_ids() -> list[int]:
    try:
        return [int(entry.name) for entry in Path("/proc/self/task").iterdir()]
    except OSError:
        return []
