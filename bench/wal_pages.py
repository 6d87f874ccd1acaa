"""`python -m bench.wal_pages`: pages the SQLite store writes to its WAL per deduction.

A figure that does not depend on how fast the machine is today: every page a transaction
touches is written to the WAL at commit (and copied to the database at the next checkpoint),
so it counts the store's write work directly. It runs deductions (each with its plugin
webhook in the outbox) through the real store, 12 to a commit as under load, and prints the
pages per deduction with the store's ids in time order and, for comparison, with random ids.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from unittest import mock

from service.domain import ids, plugin_webhooks
from service.domain.models import Site
from service.store import SQLiteStore

FRAME_BYTES = 4096 + 24  # a page and its frame header
BATCH = 12
STORE_MODULES = ("service.store.money_plan",)


#: Each user's article credits in a `deduction_store`: no deduction of a run is refused.
START_CREDITS = 10**9


@contextlib.asynccontextmanager
async def deduction_store(users: int) -> AsyncIterator[tuple[SQLiteStore, Site, Path]]:
    """A fresh SQLite store (FULL sync) in a temp folder: one site, `users` users with
    `START_CREDITS` article credits each; yields the store, the site and the database path."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.sqlite3"
        store = SQLiteStore(path)
        await store.open()
        try:
            site = Site(
                "site_bench", "inst_bench", "http://127.0.0.1:9/", "a@example.com", "h", "s"
            )
            await store.create_site(site)
            free = {"article": START_CREDITS, "image": 0, "rewrite": 0}
            for n in range(users):
                await store.ensure_user(site.site_id, str(n), f"u{n}@example.com", free)
            yield store, site, path
        finally:
            await store.close()


async def credits_removed(store: SQLiteStore, site: Site, users: int) -> int:
    """The article credits taken from the users of a `deduction_store` since it was made."""
    removed = 0
    for n in range(users):
        user = await store.get_user(site.site_id, str(n))
        assert user is not None
        removed += START_CREDITS - user.balances.article
    return removed


async def pages_per_deduction(deductions: int, users: int, *, ordered: bool) -> float:
    async with deduction_store(users) as (store, site, path):

        def no_checkpoints() -> None:
            assert store._db is not None  # open: the writer's connection
            store._db.execute("PRAGMA wal_autocheckpoint=0")

        await store.writer.call(no_checkpoints)
        wal = path.with_name(path.name + "-wal")
        before = wal.stat().st_size
        ids_made = (
            contextlib.nullcontext()
            if ordered
            else mock.patch("service.store.money_plan.ordered_hex", ids.random_hex)
        )
        with ids_made:
            for start in range(0, deductions, BATCH):
                await one_commit(store, site, [n % users for n in range(start, start + BATCH)])
        return (wal.stat().st_size - before) / FRAME_BYTES / deductions


async def one_commit(store: SQLiteStore, site: Site, users: list[int]) -> None:
    """The deductions queued while the writer is held: it finds them all, one batch."""
    gate = threading.Event()
    held = asyncio.ensure_future(store.writer.call(gate.wait))
    deductions = [asyncio.ensure_future(_deduct(store, site, user)) for user in users]
    await asyncio.sleep(0)  # every deduction reaches the queue
    gate.set()
    await held
    await asyncio.gather(*deductions)


async def _deduct(store: SQLiteStore, site: Site, user: int) -> None:
    notify = plugin_webhooks.credits_updated(
        site, user_email=f"u{user}@example.com", reason="deduction"
    )
    await store.deduct(site.site_id, str(user), "article", 1, reason="generation", notify=notify)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deductions", type=int, default=6000)
    parser.add_argument("--users", type=int, default=500)
    args = parser.parse_args()
    for ordered in (True, False):
        pages = asyncio.run(pages_per_deduction(args.deductions, args.users, ordered=ordered))
        label = "ids in time order (the store's)" if ordered else "random ids"
        print(f"{label}: {pages:.2f} WAL pages per deduction ({BATCH} per commit)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
