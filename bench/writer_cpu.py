"""`python -m bench.writer_cpu`: the SQLite writer thread's CPU per deduction, as the store
runs its batches (each job straight in the batch's transaction) and with a savepoint around
every job (how it ran them before).

CPU time of the writer thread (`time.thread_time` on that thread), not wall time: on a shared
VM it moves much less than throughput does. Deductions (each with its plugin webhook in the
outbox) go through the real store, 12 to a commit as under load, with `SQLITE_SYNCHRONOUS`
FULL; the two ways alternate, each on a fresh store, for `--rounds` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import time
from typing import Any
from unittest import mock

from service.store.sqlite.writer import SQLiteWriter

from .wal_pages import BATCH, credits_removed, deduction_store, one_commit

WAYS = ("straight", "savepoint per job")


def _savepoint_per_job(
    self: SQLiteWriter, c: sqlite3.Connection, jobs: list[Any]
) -> list[tuple[bool, Any]]:
    """How the writer ran a batch before: every job in a savepoint of its own."""
    return [self._run_in_savepoint(c, job) for job in jobs]


async def writer_cpu_per_deduction(deductions: int, users: int, *, way: str) -> tuple[float, int]:
    """(µs of the writer's CPU per deduction, article credits the deductions removed)."""
    async with deduction_store(users) as (store, site, _path):
        patched = (
            mock.patch.object(SQLiteWriter, "_run_jobs", _savepoint_per_job)
            if way == WAYS[1]
            else contextlib.nullcontext()
        )
        with patched:
            cpu = await store.writer.call(time.thread_time)
            for first in range(0, deductions, BATCH):
                await one_commit(store, site, [n % users for n in range(first, first + BATCH)])
            cpu = await store.writer.call(time.thread_time) - cpu
        removed = await credits_removed(store, site, users)
        return cpu / deductions * 1e6, removed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deductions", type=int, default=3000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {way: [] for way in WAYS}
    for round_ in range(1, args.rounds + 1):
        for way in WAYS:
            cpu, _ = asyncio.run(writer_cpu_per_deduction(args.deductions, args.users, way=way))
            figures[way].append(cpu)
            print(f"round {round_}, {way}: {cpu:.0f} µs of writer CPU per deduction")
    for way in WAYS:
        print(f"median, {way}: {statistics.median(figures[way]):.0f} µs ({BATCH} per commit)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
