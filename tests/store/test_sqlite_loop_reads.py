"""The hot point read on the event loop (`SQLiteConnection._read_here`): the reads asked for
in one turn of the loop share one read transaction on the loop's own connection; a busy
database, a closed store or a caller on another thread sends the read to the reader thread,
and the caller gets its answer (or the store's refusal), never a hang. And each connection
maps as much of the file as `SQLITE_MMAP_SIZE` says."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from service.store import SQLiteStore
from service.store.base import StoreUnavailableError

SITE = "site_loop_reads"


async def opened(path: Path, users: int = 5) -> SQLiteStore:
    store = SQLiteStore(path)
    await store.open()
    for n in range(users):
        await store.ensure_user(SITE, f"u{n}", f"u{n}@example.test", {"article": n + 1})
    return store


async def test_reads_of_one_turn_share_one_read_transaction(tmp_path: Path) -> None:
    store = await opened(tmp_path / "s.sqlite3")
    try:
        assert store._here is not None  # the reads above opened it on this thread
        statements: list[str] = []
        store._here[1].set_trace_callback(statements.append)
        users = await asyncio.gather(
            *(store.ensure_user(SITE, f"u{n}", None, {}) for n in range(5))
        )
        assert [u.balances.article for u in users] == [1, 2, 3, 4, 5]
        assert [s for s in statements if s in ("BEGIN", "ROLLBACK")] == ["BEGIN", "ROLLBACK"]
        assert len([s for s in statements if s.startswith("SELECT")]) == 5  # one per user
    finally:
        await store.close()


class Busy:
    """The loop's connection answering as SQLite does while another connection holds a lock
    readers cannot pass (WAL recovery, an exclusive-mode writer): a stand-in, since no lock
    this test could take blocks a WAL reader while the store's own connections are open."""

    def __init__(self, at: str) -> None:
        self.at = at
        self.statements: list[str] = []

    def execute(self, sql: str, *args: Any) -> Any:
        self.statements.append(sql)
        if sql.startswith(self.at):
            raise sqlite3.OperationalError("database is locked")
        return None

    def close(self) -> None:
        pass


@pytest.mark.parametrize("at", ["BEGIN", "SELECT"])
async def test_a_busy_answer_sends_the_read_to_the_reader_thread(tmp_path: Path, at: str) -> None:
    store = await opened(tmp_path / "s.sqlite3")
    try:
        busy = Busy(at)
        store._here = (threading.get_ident(), busy)  # type: ignore[assignment]
        users = await asyncio.gather(
            *(store.ensure_user(SITE, f"u{n}", None, {}) for n in range(3))
        )
        assert [u.balances.article for u in users] == [1, 2, 3]  # read on the reader's thread
        assert busy.statements[0] == "BEGIN"
        assert busy.statements[-1] == ("BEGIN" if at == "BEGIN" else "ROLLBACK")
    finally:
        await store.close()


async def test_reads_queued_when_the_store_closes_are_refused_not_lost(tmp_path: Path) -> None:
    store = await opened(tmp_path / "s.sqlite3")
    reads = [asyncio.ensure_future(store.ensure_user(SITE, "u1", None, {})) for _ in range(3)]
    await asyncio.sleep(0)  # each read starts and queues itself for the next turn of the loop
    assert store._here_batch is not None and len(store._here_batch.reads) == 3
    await store.close()  # closes the loop's connection before that turn comes
    for read in reads:
        with pytest.raises(StoreUnavailableError):
            await read


async def test_a_caller_on_another_thread_reads_through_the_reader(tmp_path: Path) -> None:
    store = await opened(tmp_path / "s.sqlite3")
    found: list[Any] = []

    def elsewhere() -> None:
        async def read() -> None:
            future = asyncio.run_coroutine_threadsafe(store.ensure_user(SITE, "u2", None, {}), main)
            found.append(await asyncio.wrap_future(future))
            found.append(await store.ensure_user(SITE, "u3", None, {}))

        asyncio.run(read())

    main = asyncio.get_running_loop()
    try:
        thread = threading.Thread(target=elsewhere)
        thread.start()
        await main.run_in_executor(None, thread.join)
        assert [u.balances.article for u in found] == [3, 4]
    finally:
        await store.close()


@pytest.mark.parametrize("mmap_size", [0, 1 << 20])
async def test_every_connection_maps_what_sqlite_mmap_size_says(
    tmp_path: Path, mmap_size: int
) -> None:
    """The writer's, the reader's and the event loop's connection (`SQLITE_MMAP_SIZE`)."""
    store = SQLiteStore(tmp_path / "s.sqlite3", mmap_size=mmap_size)
    await store.open()
    try:
        await store.ensure_user(SITE, "u0", None, {})  # opens the loop's connection

        def mapped(c: sqlite3.Connection | None) -> int:
            assert c is not None
            return int(c.execute("PRAGMA mmap_size").fetchone()[0])

        assert store._here is not None
        found = [
            await store.writer.call(lambda: mapped(store._db)),
            await store.reader.call(lambda: mapped(store._rdb)),
            mapped(store._here[1]),
        ]
        assert found == [mmap_size] * 3
    finally:
        await store.close()


def test_reads_left_in_a_loop_that_closed_do_not_hold_up_the_next_loops(tmp_path: Path) -> None:
    """A loop that ends before its turn (its reads' callers end with it) leaves its batch
    behind; another loop on the same thread gets a batch and a turn of its own."""
    store = SQLiteStore(tmp_path / "s.sqlite3")
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(store.open())
        first.run_until_complete(store.ensure_user(SITE, "u0", None, {"article": 4}))

        def start_a_read() -> None:
            asyncio.ensure_future(store.ensure_user(SITE, "u0", None, {}), loop=first)
            first.call_soon(first.stop)  # after the read's first step, before its batch's turn

        first.call_soon(start_a_read)
        first.run_forever()
        assert store._here_batch is not None and store._here_batch.loop is first
    finally:
        first.close()

    async def read_and_close() -> int:
        user = await asyncio.wait_for(store.ensure_user(SITE, "u0", None, {}), 10)
        await store.close()
        return user.balances.article

    assert asyncio.run(read_and_close()) == 4
