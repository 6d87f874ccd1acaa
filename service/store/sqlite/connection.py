"""The SQLite file and its two threads: what every aggregate of `SQLiteStore` reads and writes
through.

Each process writes through one connection used from one dedicated thread and reads through
a second connection on a second thread (WAL lets reads run while a write commits), so the
event loop never waits for a write or a lock, and a read never waits in the writers' queue.
The one read on the event loop is the hot point read (`_read_here`: a user and its balances
by primary key, what `GET /users/credits` reads): handing it to the reader thread and back
cost more CPU than the read (credits 120 -> 108 us per request, `python -m bench.default_cpu`).
The reads asked for in one turn of the loop share one read transaction on the loop's own
connection, which never waits for a lock (busy timeout 0): when SQLite answers busy or any
error, the read goes to the reader thread after all. Every write
runs in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so concurrent
callers (threads or processes) serialise on it and no read-modify-write can interleave.
Writes queued together share one transaction and one COMMIT, each in its own savepoint
(see `writer.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..base import CACHED, StoreUnavailableError
from .schema import MIGRATIONS, RATE_LIMIT_SCHEMA
from .writer import NOT_OPEN, SQLiteWriter

T = TypeVar("T")

#: How much of the file each connection reads through memory-mapped I/O (SQLITE_MMAP_SIZE).
#: A page read is then a load from the OS page cache, not a `pread` into SQLite's own cache
#: of 2 MB a connection, which a large file keeps missing: at a million ledger entries the
#: writer's CPU per deduction was 1.14-1.31x of an empty store's (five runs of `python -m
#: bench.filled`), and 1.01-1.20x with 1 GiB mapped, each figure lower (0.15 -> 0.13 ms).
#: SQLite's caveat: an I/O error on a mapped page is a SIGBUS, not an error code; 0 turns
#: it off (e.g. on a network filesystem).
DEFAULT_MMAP_SIZE = 1 << 30


def owner_only(path: Path) -> None:
    """Create the database file readable by its owner only (it holds every site's webhook
    secret and the provider keys), or tighten an existing one and its -wal and -shm.
    SQLite creates -wal and -shm with the database file's mode."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for companion in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if companion.stat().st_mode & 0o077:
                companion.chmod(0o600)


@dataclass(eq=False)
class _HereBatch:
    """The reads one event loop asked for in one turn, run together at its next turn."""

    loop: asyncio.AbstractEventLoop
    reads: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = field(
        default_factory=list
    )


class SQLiteConnection:
    """The connections, threads and schema of one SQLite file; each aggregate mixin extends it."""

    def __init__(
        self, path: str | Path, *, synchronous: str = "FULL", mmap_size: int = DEFAULT_MMAP_SIZE
    ) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self.mmap_size = mmap_size
        self._db: sqlite3.Connection | None = None
        self._rdb: sqlite3.Connection | None = None  # reads only, on the reader's thread
        self._limits: sqlite3.Connection | None = None
        # The event loop's own read connection (`_read_here`), its thread, and its queue.
        self._here: tuple[int, sqlite3.Connection] | None = None
        self._here_batch: _HereBatch | None = None  # the reads waiting for the loop's turn
        self._there: set[asyncio.Task[None]] = set()  # reads `_run_here` handed to the reader
        # Worker processes on the same file take turns through a lock file (see SQLiteWriter).
        self.writer = SQLiteWriter(
            lambda: self._db, lock_path=self.path.with_name(self.path.name + ".writelock")
        )
        # The reader waits for the event loop's turn; the writer does not: it may hold the
        # lock file that other workers' writers wait on (see cpu_affinity.helper_thread).
        self.reader = SQLiteWriter(lambda: self._rdb, name="sqlite-read", helper=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) on the reader's thread, in one read transaction (shared with the reads
        queued with it): every query of fn sees the same committed snapshot, whatever the
        writer commits meanwhile, and every write acknowledged before the call."""
        return await self.reader.read(fn, *args)

    async def _read_here(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn(connection) on the calling event loop's own connection, in one read
        transaction with the other reads asked for in the same turn of the loop (`_run_here`);
        on the reader's thread instead when the caller is not on the thread that connection
        was opened on, or SQLite answers an error (busy: this connection never waits)."""
        here = self._here
        if here is None and self._rdb is not None:
            conn = self._connect(self.path, self.synchronous)
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA busy_timeout=0")  # the event loop never waits for a lock
            here = self._here = (threading.get_ident(), conn)
        if here is None or here[0] != threading.get_ident():
            return await self.reader.read(lambda: fn(self._reading()))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        batch = self._here_batch
        if batch is None or batch.loop is not loop:  # a batch owns its turn of its own loop
            batch = self._here_batch = _HereBatch(loop)
            loop.call_soon(self._run_here, batch)
        batch.reads.append((fn, future))
        return await future

    def _run_here(self, reads: _HereBatch) -> None:
        """The reads asked for in the last turn of the loop, in one read transaction."""
        if self._here_batch is reads:
            self._here_batch = None
        batch = reads.reads
        here = self._here
        try:
            if here is None:  # closed meanwhile: the reader's thread answers (or refuses)
                raise sqlite3.OperationalError("closed")
            here[1].execute("BEGIN")
        except sqlite3.Error:
            for fn, future in batch:
                self._read_there(fn, future)
            return
        c = here[1]
        try:
            for fn, future in batch:
                if future.done():  # its caller was cancelled
                    continue
                try:
                    result = fn(c)
                except sqlite3.OperationalError:  # busy, or an error the reader will raise
                    self._read_there(fn, future)
                except Exception as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")  # nothing was written: ending the transaction is enough

    def _read_there(
        self, fn: Callable[[sqlite3.Connection], Any], future: asyncio.Future[Any]
    ) -> None:
        """Answer `future` with fn run on the reader's thread."""

        async def read() -> None:
            try:
                result = await self.reader.read(lambda: fn(self._reading()))
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)

        task = asyncio.get_running_loop().create_task(read())
        self._there.add(task)
        task.add_done_callback(self._there.discard)

    def _reading(self) -> sqlite3.Connection:
        """The reader's connection (on the reader's thread), or the store's refusal."""
        if self._rdb is None:
            raise StoreUnavailableError(NOT_OPEN)
        return self._rdb

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn in a write transaction (IMMEDIATE); answers once it is committed."""
        return await self.writer.write(fn)

    def _connect(self, path: Path, synchronous: str) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute(f"PRAGMA mmap_size={int(self.mmap_size)}")
        return conn

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        limits = self.path.with_name(self.path.name + ".ratelimit")
        for path in (self.path, limits):
            owner_only(path)
        if self.writer.lock_path is not None:
            owner_only(self.writer.lock_path)  # an older one may have been made 0644
        # Workers start together. Two connections turning a new file to WAL at once can
        # deadlock, and SQLite answers one `database is locked` without waiting: the workers
        # open the files one after another, as their writers take turns.
        with self.writer.processes_take_turns():
            self._db = self._connect(self.path, self.synchronous)
            self._limits = self._connect(limits, "OFF")
            self._limits.executescript(RATE_LIMIT_SCHEMA)

    def _open_reader(self) -> None:
        self._rdb = self._connect(self.path, self.synchronous)
        self._rdb.execute("PRAGMA query_only=ON")

    @staticmethod
    def _migrate(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = c.execute("SELECT version FROM schema_version").fetchone()
        version = row[0] if row else 0
        for number, script in enumerate(MIGRATIONS, start=1):
            if number <= version:
                continue
            if isinstance(script, str):
                for statement in script.split(";"):
                    if statement.strip():
                        c.execute(statement)
            else:
                script(c)
        if row is None:
            c.execute("INSERT INTO schema_version VALUES (?)", (len(MIGRATIONS),))
        elif version < len(MIGRATIONS):  # never back: a newer version may share the file
            c.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))

    @staticmethod
    def _cache_versions_table(c: sqlite3.Connection) -> None:
        c.execute(
            "CREATE TABLE IF NOT EXISTS cache_versions"
            " (name TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        c.executemany(
            "INSERT OR IGNORE INTO cache_versions VALUES (?, 0)", [(name,) for name in CACHED]
        )

    @staticmethod
    def _bump(c: sqlite3.Connection, name: str) -> None:
        """Tell every worker's cache of `name` that it changed (in the writer's transaction)."""
        c.execute("UPDATE cache_versions SET version = version + 1 WHERE name = ?", (name,))

    async def cache_versions(self) -> dict[str, int]:
        return dict(await self._run(self._read, "SELECT name, version FROM cache_versions"))

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        assert self._rdb is not None
        return self._rdb.execute(sql, params).fetchall()

    async def open(self) -> None:
        if self.writer.running:
            return
        self.writer.start()
        self.reader.start()
        await self.writer.call(self._open_sync)
        await self._write(self._migrate)
        await self._write(self._cache_versions_table)
        await self.reader.call(self._open_reader)

    async def close(self) -> None:
        if not self.writer.running:
            return

        def close_sync() -> None:
            for conn in (self._db, self._limits):
                if conn is not None:
                    conn.close()
            self._db = self._limits = None

        def close_reader() -> None:
            if self._rdb is not None:
                self._rdb.close()
            self._rdb = None

        if self._here is not None:
            self._here[1].close()
            self._here = None
        await self.reader.call(close_reader)
        self.reader.stop()
        await self.writer.call(close_sync)
        self.writer.stop()

    async def ping(self) -> bool:
        return bool(await self._run(lambda: self._read("SELECT 1")[0][0] == 1))
