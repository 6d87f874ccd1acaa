"""The SQLite store's own thread, with group commit.

Under `synchronous=FULL` every COMMIT waits for an fsync (about a millisecond), and one
thread owns the connection, so one commit per write caps the whole process at a few
hundred writes a second. Here, when the thread takes a write it also takes the writes
already queued behind it (up to `max_batch`) and runs them in ONE `BEGIN IMMEDIATE`
transaction, then commits once:

- jobs run one after another and see each other's effects: exactly serial order;
- a job that raises leaves no trace and the others carry on: the jobs run straight in the
  transaction, and when one raises, the thread rolls the transaction back and runs the batch
  again with each job in a SAVEPOINT of its own, rolled back to alone when it raises. A
  savepoint around every job costs this thread CPU on every deduction (`python -m
  bench.writer_cpu` measures it); a batch with a failing job is rare. So a job
  may run twice, the first time undone: it must act on the connection only;
- no future is resolved before the COMMIT returns, so nothing is acknowledged before it
  is durable; if the COMMIT (or the transaction) fails, every job of the batch fails.

Plain calls (`call`) run on the same thread, only between batches, so they never see a
batch that is not committed yet.

Reads (`read`) are batched too: the reads queued together run in one read transaction, so
they share one snapshot, taken after every one of them was asked for (a caller still reads
its own acknowledged writes), and the thread answers them with one wake-up of the event loop.

Several processes on one file (`rakubun-service --workers N`) each have a writer. SQLite lets
one write at a time and makes the others poll, sleeping up to 100 ms between tries, so a writer
could lose to the others for seconds (`python -m bench --only deduct_spread` shows it in
the 2 workers' p99). With `lock_path`, each transaction first takes an exclusive `flock` on
that file: a waiting writer sleeps in the kernel and is woken as soon as the holder commits.

The store also runs a second instance of this class as its reader: reads and calls, one
thread over a read-only connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ...runtime.cpu_affinity import helper_thread
from ..base import StoreUnavailableError

T = TypeVar("T")

#: Why a job found no connection: the store was closed (or never opened).
NOT_OPEN = "the store is not open"
#: SQLite's primary result codes that say the file cannot be used now, not that the SQL is
#: wrong: locked past the busy timeout, an I/O failure, a full disk, a file it cannot open.
OUTAGE_CODES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_FULL")


def is_outage(exc: BaseException) -> bool:
    """True for a driver error that says the database file does not answer now (see
    OUTAGE_CODES), or a connection closed under its caller."""
    if isinstance(exc, sqlite3.OperationalError):
        name = getattr(exc, "sqlite_errorname", None) or ""
        return any(name == code or name.startswith(code + "_") for code in OUTAGE_CODES)
    return isinstance(exc, sqlite3.ProgrammingError) and "closed database" in str(exc)


class _Reply:
    """How the thread answers the coroutine awaiting one job: it resolves that coroutine's
    asyncio future through `call_soon_threadsafe`. (A `concurrent.futures.Future` wrapped by
    `asyncio.wrap_future` costs a Condition and a second future per call: about a tenth of the
    event loop's time on a read-heavy endpoint.) The method names are Future's."""

    __slots__ = ("future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()

    def set_running_or_notify_cancel(self) -> bool:
        """False when the caller gave up before the job started: it is skipped."""
        return not self.future.cancelled()

    def set_result(self, value: Any) -> None:
        self._answer(value, None)

    def set_exception(self, exc: BaseException) -> None:
        self._answer(None, exc)

    def _answer(self, value: Any, exc: BaseException | None) -> None:
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future, value, exc)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more


def _answer_batch(answers: list[tuple[_Reply, Any, BaseException | None]]) -> None:
    """Resolve a committed batch's futures with one wake-up per event loop, not one per job:
    each `call_soon_threadsafe` writes to the loop's wake-up pipe."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, Any]]] = {}
    for reply, value, exc in answers:
        by_loop.setdefault(reply.loop, []).append((reply.future, value, exc))
    for loop, resolutions in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve_all, resolutions)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more


def _resolve_all(resolutions: list[tuple[asyncio.Future[Any], Any, Any]]) -> None:
    for future, value, exc in resolutions:
        _resolve(future, value, exc)


def _resolve(future: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if future.done():  # cancelled while the job ran (a write is committed all the same)
        return
    if exc is None:
        future.set_result(value)
    elif isinstance(exc, StopIteration | StopAsyncIteration):  # a future refuses these
        future.set_exception(RuntimeError(repr(exc)))
    else:
        future.set_exception(exc)


@dataclass(eq=False)
class _Job:
    """One piece of work for the thread: a write (`fn(connection)`) or a plain call."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kind: str  # _WRITE, _READ or _CALL
    future: _Reply


_STOP = object()
_WRITE, _READ, _CALL = "write", "read", "call"


class SQLiteWriter:
    """One thread that owns a SQLite connection and commits queued writes together."""

    def __init__(
        self,
        connection: Callable[[], sqlite3.Connection | None],
        *,
        max_batch: int = 64,
        name: str = "sqlite",
        lock_path: Path | None = None,
        helper: bool = False,
    ) -> None:
        self._connection = connection
        self.max_batch = max_batch
        self._name = name
        self.lock_path = lock_path
        self.helper = helper
        self._lock_fd: int | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches_committed = 0  # COMMITs that succeeded
        self.jobs_committed = 0  # write jobs in those batches, rolled-back ones included
        self.batches_rerun = 0  # batches run again, a savepoint per job, after a job raised

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Finish the queued work, then end the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) on the thread, outside any batch transaction."""
        return await self._submit(fn, args, _CALL)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) on the thread in a read transaction, shared with the reads queued
        with it; fn reads through the thread's connection."""
        return await self._submit(fn, args, _READ)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn(connection) in a write transaction; answers once that is committed."""
        return await self._submit(fn, (), _WRITE)

    async def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...], kind: str) -> Any:
        if self._thread is None:
            raise StoreUnavailableError(NOT_OPEN)
        reply = _Reply(asyncio.get_running_loop())
        self._queue.put(_Job(fn, args, kind, reply))
        return await reply.future

    # ------------------------------------------------------------------ the thread
    def _loop(self) -> None:
        if self.helper:
            helper_thread()  # its wake-ups wait for the event loop's turn (see cpu_affinity)
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            if job.kind == _CALL:
                self._call(job)
                continue
            batch, later, stop = self._gather(job)
            self._run_batch(batch)
            for other in later:  # taken off the queue while gathering; after the batch
                self._run_batch([other])
            if stop:
                return

    def _gather(self, first: _Job) -> tuple[list[_Job], list[_Job], bool]:
        """The first job and the jobs of its kind queued behind it, up to max_batch; the
        others taken meanwhile, in order."""
        batch: list[_Job] = [first]
        later: list[_Job] = []
        while len(batch) < self.max_batch and len(later) < 4 * self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return batch, later, True
            (batch if job.kind == first.kind else later).append(job)
        return batch, later, False

    def _run_batch(self, batch: list[_Job]) -> None:
        kind = batch[0].kind
        if kind == _WRITE:
            self._commit_batch(batch)
        elif kind == _READ:
            self._read_batch(batch)
        else:
            self._call(batch[0])

    @staticmethod
    def _call(job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            result = job.fn(*job.args)
        except BaseException as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    def _read_batch(self, batch: list[_Job]) -> None:
        """Reads in one read transaction (one snapshot); each answers alone, errors too."""
        jobs = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        answers: list[tuple[_Reply, Any, BaseException | None]] = []
        c = self._connection()
        try:
            if c is None:
                raise StoreUnavailableError(NOT_OPEN)
            c.execute("BEGIN")
        except BaseException as exc:
            for job in jobs:
                job.future.set_exception(exc)
            return
        try:
            for job in jobs:
                try:
                    answers.append((job.future, job.fn(*job.args), None))
                except BaseException as exc:  # as `_call`: the caller gets it, the thread goes on
                    answers.append((job.future, None, exc))
        finally:
            self._roll_back(c)  # nothing was written: ending the read transaction is enough
            _answer_batch(answers)

    def _commit_batch(self, batch: list[_Job]) -> None:
        jobs = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        c = self._connection()
        if c is None:  # closed under its callers: each must hear it, not wait forever
            for job in jobs:
                job.future.set_exception(StoreUnavailableError(NOT_OPEN))
            return
        outcomes: list[tuple[bool, Any]]  # (ok, result or exception), one per job
        try:
            with self.processes_take_turns():
                c.execute("BEGIN IMMEDIATE")
                outcomes = self._run_jobs(c, jobs)
                c.execute("COMMIT")
        except BaseException as exc:
            self._roll_back(c)
            for job in jobs:  # nothing of the batch is durable: every job fails
                job.future.set_exception(exc)
            return
        self.batches_committed += 1
        self.jobs_committed += len(jobs)
        _answer_batch(
            [
                (job.future, None, value) if not ok else (job.future, value, None)
                for job, (ok, value) in zip(jobs, outcomes, strict=True)
            ]
        )

    @contextlib.contextmanager
    def processes_take_turns(self) -> Iterator[None]:
        """The lock file's exclusive flock for one transaction, or for the store's opening
        (nothing without `lock_path`)."""
        if self.lock_path is None:
            yield
            return
        if self._lock_fd is None:  # opened here: the store makes its folder first
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fd = self._lock_fd
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @staticmethod
    def _roll_back(c: sqlite3.Connection) -> None:
        try:
            if c.in_transaction:
                c.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the batch's own error is the one to report

    def _run_jobs(self, c: sqlite3.Connection, jobs: list[_Job]) -> list[tuple[bool, Any]]:
        """Each job straight in the open transaction; if one raises, the batch again from a
        fresh transaction, each job in its own savepoint."""
        outcomes: list[tuple[bool, Any]] = []
        for job in jobs:
            try:
                outcomes.append((True, job.fn(c)))
            except Exception:
                if not c.in_transaction:  # SQLite rolled back the whole transaction itself
                    raise
                break
        else:
            return outcomes
        self.batches_rerun += 1
        c.execute("ROLLBACK")
        c.execute("BEGIN IMMEDIATE")
        return [self._run_in_savepoint(c, job) for job in jobs]

    @staticmethod
    def _run_in_savepoint(c: sqlite3.Connection, job: _Job) -> tuple[bool, Any]:
        c.execute("SAVEPOINT job")
        try:
            result = job.fn(c)
        except Exception as exc:
            if not c.in_transaction:  # SQLite rolled back the whole transaction itself
                raise
            c.execute("ROLLBACK TO job")
            c.execute("RELEASE job")
            return False, exc
        c.execute("RELEASE job")
        return True, result
