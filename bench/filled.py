"""`python -m bench.filled`: the store's hot paths and admin reads with a filled ledger
against an empty one, over the same users.

Both SQLite files hold the same site, users and balances; the filled one also holds
`--ledger-rows` ledger entries (every user's purchase, then deductions of 1, users taken in
turn as a busy service interleaves them), written straight through SQL in one transaction,
with the running totals filled as the store's migration fills them. Each round measures
every operation on both stores, their order swapped each round so a noisy neighbour on a
shared machine hits both alike; a row's figure is the median of its rounds' medians, and the
ratio is filled over empty (1.0: flat as data grows).

Operations, through the real `SQLiteStore`:
- `credits read`: `get_user` of a random user (what `GET /users/credits` reads);
- `credits read (writing)`, `credits read (stats)`: the same while deductions commit, or
  while an admin's `stats` run one after another (both share the store's one reader thread);
- `deduct`: a deduction of 1 from a random user, its plugin webhook enqueued (wall time: on a
  shared machine its fsync moves it more than the data does);
- `deduct (writer CPU)`: the writer thread's CPU per deduction, 8 at a time (what the data
  size costs the single writer, fsync waits left out);
- `reader CPU per read`, `reader CPU per read (writing)`: the reader thread's CPU
  per `get_user`, alone and while deductions commit (a read's wall time on a shared VM
  follows the scheduler's hand-offs between the event loop and the reader: its round medians
  moved 40% between runs, the CPU per read under 10%);
- `stats`: `GET /admin/stats`' figures; `reconcile`: the full check (few calls: it reads all).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.domain.models import Balances, LedgerEntry, WebhookDraft
from service.store import SQLiteStore
from service.store.sqlite.schema import scan_totals

SITE_ID = "site_bench_filled"
HOOK_URL = "http://127.0.0.1:9/wp-json/rakubun/v1/webhook"
#: Calls per operation and round; reconcile reads everything, so it gets fewer.
CALLS = {
    "credits read": 400,
    "credits read (writing)": 400,
    "credits read (stats)": 400,
    "deduct": 200,
    "deduct (writer CPU)": 2000,
    "reader CPU per read": 2000,
    "reader CPU per read (writing)": 2000,
    "stats": 40,
    "reconcile": 3,
}
#: Credits each user buys beyond what its deductions in the file spend: the bench's own
#: deductions must not run dry.
SPARE = 1000


def ledger_rows(users: int, rows: int) -> Iterator[tuple[Any, ...]]:
    """`rows` ledger entries over `users` users (at least one each: its purchase), as
    (transaction_id, site_id, user_id, credit_type, delta, balance_after, kind, source_ref,
    parent_ref, reason, meta, created_at): users in turn, each first buying
    `rows // users + SPARE` credits then spending 1 per entry."""
    if rows < users:
        raise ValueError("at least one ledger entry per user: its purchase")
    bought = rows // users + SPARE
    meta = json.dumps({"amount": 750, "currency": "JPY"})
    for n in range(rows):
        user, k = n % users, n // users  # the user's k-th entry
        if k == 0:
            yield (f"txn_f{n}", SITE_ID, f"u{user}", "article", bought, bought, "purchase",
                   f"fill:grant:{user}", None, None, meta, "2026-01-01T00:00:00.000000Z")  # fmt: skip
        else:
            yield (f"txn_f{n}", SITE_ID, f"u{user}", "article", -1, bought - k, "deduction",
                   f"fill:deduct:{n}", None, None, "{}", "2026-01-01T00:00:01.000000Z")  # fmt: skip


def final_balances(users: int, rows: int) -> dict[str, int]:
    """Each user's article balance after `ledger_rows(users, rows)`."""
    bought = rows // users + SPARE
    return {
        f"u{u}": bought - (rows // users + (1 if u < rows % users else 0) - 1) for u in range(users)
    }


async def fill(path: Path, *, users: int, rows: int) -> None:
    """A store file with the bench site, `users` users and `rows` ledger entries (see
    `ledger_rows`), its balances and totals consistent with them."""
    store = SQLiteStore(path)
    await store.open()
    from service.domain.models import Site

    await store.create_site(
        Site(
            SITE_ID,
            "inst-bench-filled",
            "http://127.0.0.1:9",
            "admin@bench.test",
            "sha256:" + "0" * 64,
            "whsec_bench",
            "active",
            None,
            {},
            {"webhook_url": HOOK_URL},
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
        )  # fmt: skip
    )
    await store.close()
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(
            "INSERT INTO users VALUES (?,?,?,?)",
            ((SITE_ID, f"u{u}", f"u{u}@bench.test", "2026-01-01T00:00:00Z") for u in range(users)),
        )
        balances = final_balances(users, rows)
        raw.executemany(
            "INSERT INTO balances VALUES (?,?,?,?)",
            (
                (SITE_ID, user, credit_type, balances[user] if credit_type == "article" else 0)
                for user in balances
                for credit_type in ("article", "image", "rewrite")
            ),
        )
        raw.executemany(
            "INSERT INTO ledger (transaction_id, site_id, user_id, credit_type, delta,"
            " balance_after, kind, source_ref, parent_ref, reason, meta, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            ledger_rows(users, rows),
        )
        raw.execute("DELETE FROM totals")
        raw.executemany(
            "INSERT INTO totals VALUES (?,?,?)",
            [(m, k, v) for (m, k), v in scan_totals(raw).items()],
        )
        raw.execute("COMMIT")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def _notify(entry: LedgerEntry, balances: Balances) -> WebhookDraft:
    body = json.dumps({"event": "credits_updated", "user_id": entry.user_id})
    return WebhookDraft(entry.site_id, HOOK_URL, "credits_updated", body)


def operations(
    store: SQLiteStore, users: int, rng: random.Random
) -> dict[str, Callable[[], Awaitable[Any]]]:
    def user() -> str:
        return f"u{rng.randrange(users)}"

    return {
        "credits read": lambda: store.get_user(SITE_ID, user()),
        "credits read (writing)": lambda: store.get_user(SITE_ID, user()),
        "credits read (stats)": lambda: store.get_user(SITE_ID, user()),
        "reader CPU per read": lambda: store.get_user(SITE_ID, user()),
        "reader CPU per read (writing)": lambda: store.get_user(SITE_ID, user()),
        "deduct": lambda: store.deduct(SITE_ID, user(), "article", 1, notify=_notify),
        "deduct (writer CPU)": lambda: store.deduct(SITE_ID, user(), "article", 1, notify=_notify),
        "stats": store.stats,
        "reconcile": store.reconcile,
    }


async def timed(call: Callable[[], Awaitable[Any]], count: int) -> float:
    """The median seconds of `count` calls, one after another."""
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


async def meanwhile(
    call: Callable[[], Awaitable[Any]], at_once: int, measured: Awaitable[float]
) -> float:
    """`measured`, while `call` runs `at_once` at a time, again and again."""
    done = asyncio.Event()

    async def again() -> None:
        while not done.is_set():
            await asyncio.gather(*(call() for _ in range(at_once)))

    background = asyncio.create_task(again())
    try:
        return await measured
    finally:
        done.set()
        await background


async def writer_cpu(store: SQLiteStore, deduct: Callable[[], Awaitable[Any]], count: int) -> float:
    """The writer thread's CPU seconds per deduction, over `count` run 8 at a time."""
    before = await store.writer.call(time.thread_time)
    for _ in range(count // 8):
        await asyncio.gather(*(deduct() for _ in range(8)))
    return (await store.writer.call(time.thread_time) - before) / (count // 8 * 8)


async def reader_cpu(store: SQLiteStore, read: Callable[[], Awaitable[Any]], count: int) -> float:
    """The reader thread's CPU seconds per read, over `count` one after another."""
    before = await store.reader.call(time.thread_time)
    for _ in range(count):
        await read()
    return (await store.reader.call(time.thread_time) - before) / count


@dataclass
class Row:
    operation: str
    empty_ms: float
    filled_ms: float

    @property
    def ratio(self) -> float:
        return self.filled_ms / self.empty_ms if self.empty_ms else float("inf")


def rows_of(rounds: dict[str, dict[str, list[float]]]) -> list[Row]:
    """The table: per operation, the median of each store's round medians (in ms)."""
    return [
        Row(op, statistics.median(by["empty"]) * 1000, statistics.median(by["filled"]) * 1000)
        for op, by in rounds.items()
    ]


def format_rows(rows: list[Row], ledger_rows: int) -> str:
    lines = [f"{'operation':<36}{'empty ms':>10}{f'{ledger_rows:,} rows ms':>18}{'ratio':>8}"]
    for r in rows:
        lines.append(f"{r.operation:<36}{r.empty_ms:>10.3f}{r.filled_ms:>18.3f}{r.ratio:>8.2f}")
    return "\n".join(lines)


async def measure(
    folder: Path, *, users: int, rows: int, rounds: int, only: tuple[str, ...]
) -> list[Row]:
    paths = {"empty": folder / "empty.sqlite3", "filled": folder / f"filled-{rows}.sqlite3"}
    for name, path in paths.items():
        pristine = path.with_suffix(".pristine")
        if not pristine.exists():  # kept between runs: filling a million rows takes a while
            started = time.monotonic()
            await fill(pristine, users=users, rows=users if name == "empty" else rows)
            print(f"filled {pristine.name} in {time.monotonic() - started:.0f}s")
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(pristine, path)  # each run starts from the same files
    stores = {name: SQLiteStore(path) for name, path in paths.items()}
    results: dict[str, dict[str, list[float]]] = {op: {"empty": [], "filled": []} for op in only}
    rng = random.Random(35)
    try:
        for store in stores.values():
            await store.open()
        for number in range(rounds):
            order = list(stores) if number % 2 == 0 else list(reversed(stores))
            for name in order:
                ops = operations(stores[name], users, rng)
                for op in only:
                    if op == "deduct (writer CPU)":
                        result = await writer_cpu(stores[name], ops["deduct"], CALLS[op])
                    elif op == "reader CPU per read":
                        result = await reader_cpu(stores[name], ops[op], CALLS[op])
                    elif op == "reader CPU per read (writing)":
                        measured = reader_cpu(stores[name], ops[op], CALLS[op])
                        result = await meanwhile(ops["deduct"], 8, measured)
                    elif op.endswith(" (writing)"):  # deductions commit meanwhile
                        result = await meanwhile(ops["deduct"], 8, timed(ops[op], CALLS[op]))
                    elif op.endswith(" (stats)"):  # an admin's stats, one after another
                        result = await meanwhile(ops["stats"], 1, timed(ops[op], CALLS[op]))
                    else:
                        result = await timed(ops[op], CALLS[op])
                    results[op][name].append(result)
    finally:
        for store in stores.values():
            await store.close()
    return rows_of(results)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.filled", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--ledger-rows", type=int, default=1_000_000, metavar="N")
    parser.add_argument("--users", type=int, default=20_000, metavar="U")
    parser.add_argument("--rounds", type=int, default=4, metavar="R")
    parser.add_argument("--only", default=",".join(CALLS), metavar="OPS")
    parser.add_argument("--dir", type=Path, default=Path("var/bench-filled"), metavar="DIR",
                        help="where the two store files are made, and kept for the next run")  # fmt: skip
    args = parser.parse_args(argv)
    args.only = tuple(op.strip() for op in args.only.split(",") if op.strip())
    if unknown := set(args.only) - set(CALLS):
        parser.error(f"--only takes some of {', '.join(CALLS)}; got {sorted(unknown)}")
    if args.ledger_rows < args.users or min(args.users, args.rounds) < 1:
        parser.error("--ledger-rows must be at least --users, and both and --rounds positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    rows = asyncio.run(
        measure(
            args.dir, users=args.users, rows=args.ledger_rows, rounds=args.rounds, only=args.only
        )
    )
    print(format_rows(rows, args.ledger_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
