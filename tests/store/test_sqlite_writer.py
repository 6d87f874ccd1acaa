"""Group commit in the SQLite store's thread: queued writes share one COMMIT, a failing one
is undone alone (the batch runs again, a savepoint per job), and nothing is acknowledged
before that COMMIT."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.store import SQLiteStore
from service.store.sqlite.writer import SQLiteWriter

from .builders import new_site, notify_plugin

Job = Callable[[sqlite3.Connection], Any]


def insert(name: str) -> Job:
    def job(c: sqlite3.Connection) -> str:
        c.execute("INSERT INTO items (name) VALUES (?)", (name,))
        return name

    return job


def names(path: Path) -> set[str]:
    """What a second connection sees: only what is committed."""
    with sqlite3.connect(path) as other:
        rows = other.execute("SELECT name FROM items").fetchall()
    other.close()
    return {name for (name,) in rows}


@pytest.fixture
def db_path(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "writer.sqlite3"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE items (name TEXT PRIMARY KEY)")
        setup.execute("CREATE TABLE parents (id TEXT PRIMARY KEY)")
        setup.execute(
            "CREATE TABLE children (id TEXT, parent_id TEXT REFERENCES parents (id)"
            " DEFERRABLE INITIALLY DEFERRED)"
        )
    setup.close()
    yield path


@pytest.fixture
async def writer(db_path: Path) -> AsyncIterator[SQLiteWriter]:
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    writer = SQLiteWriter(lambda: conn)
    writer.start()
    yield writer
    writer.stop()
    conn.close()


async def queue_while_held(
    thread: SQLiteWriter, *jobs: Any, read: bool = False
) -> list[asyncio.Future[Any]]:
    """Queue writes (or reads) while the thread is busy, so it finds them all at once: one
    batch."""
    gate = threading.Event()
    held = asyncio.ensure_future(thread.call(gate.wait))
    submit = thread.read if read else thread.write
    futures = [asyncio.ensure_future(submit(job)) for job in jobs]
    await asyncio.sleep(0)  # every job reaches the queue
    gate.set()
    await held
    return futures


# ---------------------------------------------------------------------------- savepoints
async def test_a_failing_job_rolls_back_alone_and_the_rest_of_its_batch_commits(
    writer: SQLiteWriter, db_path: Path
) -> None:
    def fails(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO items (name) VALUES ('b')")
        raise ValueError("this job fails")

    futures = await queue_while_held(writer, insert("a"), fails, insert("a"), insert("c"))
    results = await asyncio.gather(*futures, return_exceptions=True)

    assert results[0] == "a" and results[3] == "c"
    assert isinstance(results[1], ValueError)
    assert isinstance(results[2], sqlite3.IntegrityError)  # saw the first job's 'a'
    assert names(db_path) == {"a", "c"}
    assert (writer.batches_committed, writer.jobs_committed) == (1, 4)


async def test_the_jobs_before_a_failing_one_run_again_and_their_first_run_leaves_nothing(
    writer: SQLiteWriter, db_path: Path
) -> None:
    runs: list[str] = []

    def counted(name: str) -> Job:
        def job(c: sqlite3.Connection) -> str:
            runs.append(name)
            return insert(name)(c)

        return job

    def fails(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO items (name) VALUES ('x')")
        raise ValueError("this job fails")

    futures = await queue_while_held(writer, counted("a"), fails, counted("b"))
    results = await asyncio.gather(*futures, return_exceptions=True)

    assert results[0] == "a" and isinstance(results[1], ValueError) and results[2] == "b"
    assert runs == ["a", "a", "b"]  # 'a' ran straight, then again in a savepoint; 'b' once
    assert names(db_path) == {"a", "b"}
    assert writer.batches_rerun == 1
    assert await writer.write(insert("c")) == "c"
    assert writer.batches_rerun == 1  # a batch without a failing job runs once


JOB_KINDS = st.sampled_from(["ok", "fails_after_writing", "fails_before_writing"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(JOB_KINDS, st.sampled_from("abcd")), min_size=1, max_size=12))
def test_a_batch_ends_as_its_jobs_run_one_by_one_with_each_failing_one_undone(
    tmp_path_factory: pytest.TempPathFactory, plan: list[tuple[str, str]]
) -> None:
    path = tmp_path_factory.mktemp("batch") / "writer.sqlite3"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE items (name TEXT PRIMARY KEY)")
    setup.close()

    def job(kind: str, name: str) -> Job:
        def run(c: sqlite3.Connection) -> str:
            if kind == "fails_before_writing":
                raise ValueError(name)
            c.execute("INSERT INTO items (name) VALUES (?)", (name,))
            if kind == "fails_after_writing":
                raise ValueError(name)
            return name

        return run

    # The model: one job after another; a job that raises changes nothing.
    stored: set[str] = set()
    expected: list[object] = []
    for kind, name in plan:
        if kind == "fails_before_writing":
            expected.append(ValueError)
        elif name in stored:
            expected.append(sqlite3.IntegrityError)
        elif kind == "fails_after_writing":
            expected.append(ValueError)
        else:
            stored.add(name)
            expected.append(name)

    async def scenario() -> tuple[list[Any], SQLiteWriter]:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        writer = SQLiteWriter(lambda: conn)
        writer.start()
        try:
            futures = await queue_while_held(writer, *(job(k, n) for k, n in plan))
            return await asyncio.gather(*futures, return_exceptions=True), writer
        finally:
            writer.stop()
            conn.close()

    results, writer = asyncio.run(scenario())
    assert [r if isinstance(r, str) else type(r) for r in results] == expected
    assert names(path) == stored
    assert (writer.batches_committed, writer.jobs_committed) == (1, len(plan))
    assert writer.batches_rerun == (0 if all(isinstance(e, str) for e in expected) else 1)


async def test_a_job_sees_what_the_jobs_before_it_in_its_batch_wrote(writer: SQLiteWriter) -> None:
    def count(c: sqlite3.Connection) -> int:
        return int(c.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    futures = await queue_while_held(writer, insert("a"), count, insert("b"), count)
    assert await asyncio.gather(*futures) == ["a", 1, "b", 2]
    assert writer.batches_committed == 1


# ---------------------------------------------------------------------------- durability
async def test_a_write_is_answered_only_once_its_batch_is_committed(
    writer: SQLiteWriter, db_path: Path
) -> None:
    def slow(c: sqlite3.Connection) -> str:
        time.sleep(0.3)  # the batch stays open well after the first job is done
        return insert("slow")(c)

    first, second = await queue_while_held(writer, insert("first"), slow)
    assert await first == "first"
    assert "first" in names(db_path)
    assert await second == "slow"
    assert names(db_path) == {"first", "slow"}
    assert writer.batches_committed == 1


async def test_when_the_commit_fails_every_job_of_the_batch_fails_and_nothing_stays(
    writer: SQLiteWriter, db_path: Path
) -> None:
    def orphan(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO children VALUES ('c1', 'no-such-parent')")  # checked at COMMIT

    futures = await queue_while_held(writer, insert("a"), orphan)
    results = await asyncio.gather(*futures, return_exceptions=True)

    assert all(isinstance(r, sqlite3.IntegrityError) for r in results), results
    assert names(db_path) == set()
    assert writer.batches_committed == 0
    assert await writer.write(insert("after")) == "after"  # the writer goes on
    assert names(db_path) == {"after"}


async def test_reads_never_see_a_batch_before_it_commits(
    writer: SQLiteWriter, db_path: Path
) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)

    def slow(c: sqlite3.Connection) -> str:
        time.sleep(0.1)
        return insert("slow")(c)

    def read() -> set[str]:
        return {n for (n,) in conn.execute("SELECT name FROM items").fetchall()}

    gate = threading.Event()
    held = asyncio.ensure_future(writer.call(gate.wait))
    write = asyncio.ensure_future(writer.write(slow))
    seen = asyncio.ensure_future(writer.call(read))
    await asyncio.sleep(0)
    gate.set()
    await held
    assert await write == "slow"
    assert await seen == {"slow"}  # run after the COMMIT, never in the open transaction
    conn.close()


# ---------------------------------------------------------------------------- read batches
@pytest.fixture
async def reader(db_path: Path) -> AsyncIterator[tuple[SQLiteWriter, sqlite3.Connection]]:
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    reader = SQLiteWriter(lambda: conn, name="sqlite-read")
    reader.start()
    yield reader, conn
    reader.stop()
    conn.close()


async def queue_reads_while_held(reader: SQLiteWriter, *reads: Callable[[], Any]) -> list[Any]:
    futures = await queue_while_held(reader, *reads, read=True)
    return await asyncio.gather(*futures, return_exceptions=True)


async def test_reads_queued_together_share_one_snapshot_and_one_wake_up(
    reader: tuple[SQLiteWriter, sqlite3.Connection], db_path: Path
) -> None:
    thread, conn = reader
    loop = asyncio.get_running_loop()
    wake_ups = 0
    real = loop.call_soon_threadsafe

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal wake_ups
        wake_ups += 1
        return real(*args, **kwargs)

    def count() -> int:
        return int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def commit_elsewhere() -> str:
        with sqlite3.connect(db_path) as other:
            other.execute("INSERT INTO items (name) VALUES ('meanwhile')")
        other.close()
        return "committed"

    loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
    try:
        results = await queue_reads_while_held(thread, count, commit_elsewhere, count)
    finally:
        loop.call_soon_threadsafe = real  # type: ignore[method-assign]
    assert results == [0, "committed", 0]  # the batch's snapshot predates the other commit
    assert wake_ups == 2  # the held call's answer, then the three reads' together
    assert await thread.read(count) == 1  # the next read's snapshot has it


async def test_a_failing_read_answers_alone_and_its_batch_reads_on(
    reader: tuple[SQLiteWriter, sqlite3.Connection],
) -> None:
    thread, conn = reader

    def fails() -> None:
        conn.execute("SELECT * FROM no_such_table")

    def count() -> int:
        return int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    results = await queue_reads_while_held(thread, count, fails, count)
    assert results[0] == 0 and results[2] == 0
    assert isinstance(results[1], sqlite3.OperationalError)
    assert not conn.in_transaction  # the read transaction ended with its batch


async def test_a_read_sees_every_write_acknowledged_before_it(
    writer: SQLiteWriter, reader: tuple[SQLiteWriter, sqlite3.Connection]
) -> None:
    thread, conn = reader
    for n in range(20):
        await writer.write(insert(f"item-{n}"))
        seen = await thread.read(lambda: conn.execute("SELECT COUNT(*) FROM items").fetchone())
        assert seen == (n + 1,)


# ---------------------------------------------------------------------------- the store
@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "rakubun.sqlite3")
    await store.open()
    yield store
    await store.close()


async def test_concurrent_deducts_share_commits_and_each_answer_is_already_durable(
    store: SQLiteStore,
) -> None:
    site = await store.create_site(new_site())
    await store.grant_once(site.site_id, "42", "article", 150, "checkout:cs_batch")
    before = (store.writer.batches_committed, store.writer.jobs_committed)
    other = sqlite3.connect(store.path)

    async def deduct_and_look(n: int) -> tuple[bool, bool]:
        key = f"key-{n % 180}"  # 20 keys sent twice: one deduction each
        result = await store.deduct(
            site.site_id, "42", "article", 1, idempotency_key=key, notify=notify_plugin()
        )
        if not result.ok:
            return False, True
        assert result.entry is not None
        visible = (
            other.execute(
                "SELECT 1 FROM ledger WHERE transaction_id=?", (result.entry.transaction_id,)
            ).fetchone()
            is not None
        )
        return not result.replayed, visible

    results = await asyncio.gather(*(deduct_and_look(n) for n in range(200)))
    other.close()

    assert all(visible for _, visible in results)
    assert sum(applied for applied, _ in results) == 150
    user = await store.get_user(site.site_id, "42")
    assert user is not None and user.balances.article == 0
    assert (await store.reconcile()).ok
    assert await store.count_pending_webhooks() == 150  # one per deduction, none replayed
    batches = store.writer.batches_committed - before[0]
    jobs = store.writer.jobs_committed - before[1]
    assert jobs == 200
    assert batches < jobs // 2, f"{batches} commits for {jobs} writes"


# ---------------------------------------------------------------- processes take turns
async def test_a_writer_with_a_lock_file_waits_for_the_lock_before_its_transaction(db_path):
    """Another process holding the lock file's flock (an open file of its own, as here) keeps
    the writer from starting a transaction; it commits as soon as the lock is let go."""
    lock_path = db_path.with_name("writer.lock")
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    writer = SQLiteWriter(lambda: conn, lock_path=lock_path)
    writer.start()
    other = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        pending = asyncio.ensure_future(writer.write(insert("waited")))
        done, _ = await asyncio.wait({pending}, timeout=0.3)
        # Never done while the lock is held, however fast the machine: no race to lose.
        assert not done and names(db_path) == set()
        fcntl.flock(other, fcntl.LOCK_UN)
        assert await asyncio.wait_for(pending, 10) == "waited"
        assert names(db_path) == {"waited"}
    finally:
        os.close(other)
        writer.stop()
        conn.close()


async def test_the_store_names_a_lock_file_beside_its_database(tmp_path):
    store = SQLiteStore(tmp_path / "data" / "rakubun.sqlite3")
    await store.open()
    try:
        await store.create_site(new_site())
        assert (tmp_path / "data" / "rakubun.sqlite3.writelock").is_file()
    finally:
        await store.close()
