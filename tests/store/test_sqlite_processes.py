"""SQLite with several worker processes on one file, as Sanic runs it with workers > 1."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from pathlib import Path

from service.store import SQLiteStore

from .workers import start_worker

PROCESSES, DEDUCTS_EACH, CREDITS = 4, 40, 100
#: New files the start-up test opens, every process at once on each.
OPEN_ROUNDS = 25


async def test_deducts_from_several_processes_succeed_exactly_as_often_as_credits_allow(
    sqlite_site: tuple[SQLiteStore, str],
) -> None:
    store, site_id = sqlite_site
    path = store.path
    await store.grant_once(site_id, "42", "article", CREDITS, "checkout:cs_shared")

    workers = [
        start_worker("deduct_worker.py", str(path), site_id, "42", str(DEDUCTS_EACH))
        for _ in range(PROCESSES)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
        for worker in workers:  # all start together
            worker.stdin.write("go\n")
            worker.stdin.flush()
        successes = []
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
            successes.append(int(out.split()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    assert sum(successes) == CREDITS
    assert len([s for s in successes if s]) > 1, "one process took every credit: no contention"
    user = await store.get_user(site_id, "42")
    assert user is not None and user.balances.article == 0
    deductions = [
        e for e in await store.list_ledger(site_id=site_id, limit=1000) if e.kind == "deduction"
    ]
    assert len(deductions) == CREDITS
    assert (await store.reconcile()).ok


# ---------------------------------------------------------------- workers starting together
async def test_workers_opening_a_new_database_together_all_start(tmp_path: Path) -> None:
    """Sanic starts its workers together, and each opens the store. Two connections turning a
    new file to WAL at once can both hold a read lock and want the write lock: SQLite answers
    one `database is locked` at once, without waiting, and that worker died at start-up (seen
    with `rakubun-service --workers 2` on a fresh file). Every round here, 4 processes open a
    new file at the same moment; each must start."""
    files = [str(tmp_path / f"fresh{n}.sqlite3") for n in range(OPEN_ROUNDS)]
    workers = [start_worker("open_worker.py", *files) for _ in range(PROCESSES)]
    try:
        for _ in files:
            for worker in workers:
                line = worker.stdout.readline().strip()
                assert line == "ready", line or worker.stderr.read()
            for worker in workers:  # all open this file together
                worker.stdin.write("go\n")
                worker.stdin.flush()
        outcomes = [worker.communicate(timeout=120) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert [out.strip() for out, _ in outcomes] == ["ok"] * PROCESSES, outcomes


async def test_opening_waits_for_the_lock_file_before_touching_the_database(
    tmp_path: Path,
) -> None:
    """What makes the start-up above safe: a worker opens the file (WAL mode, the rate-limit
    file's schema) holding the lock file its writers take turns with, so a second worker
    waits for the first instead of racing it."""
    path = tmp_path / "new.sqlite3"
    lock_path = tmp_path / "new.sqlite3.writelock"
    other = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    store = SQLiteStore(path)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)  # another worker is opening it
        opening = asyncio.ensure_future(store.open())
        done, _ = await asyncio.wait({opening}, timeout=0.3)
        # Never done while the lock is held, however fast the machine: no race to lose.
        assert not done
        assert not path.exists() or path.stat().st_size == 0, "it converted the file unlocked"
        fcntl.flock(other, fcntl.LOCK_UN)
        await asyncio.wait_for(opening, 10)
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        os.close(other)
        await store.close()
