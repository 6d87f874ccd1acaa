"""The crash drill's victim: a stream of grants and deductions on one SQLite file.

    python crash_worker.py STORE_FILE RUN_TAG SITE_ID USER_ID

Six streams run at once: two on a store each (own connection, as two workers have), four
sharing a third store, so their writes are committed in groups. After each operation has
returned it prints one line and flushes:

    grant <source_ref> <transaction_id>
    deduct <source_ref> <ok 0|1> <transaction_id or ->

It never stops by itself: the drill SIGKILLs it mid-stream.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from service.domain.models import Balances, LedgerEntry, WebhookDraft
from service.store import SQLiteStore


def notify(entry: LedgerEntry, balances: Balances) -> WebhookDraft:
    return WebhookDraft(
        entry.site_id,
        "https://wp.example.test/hook",
        "credits_updated",
        f'{{"transaction_id": "{entry.transaction_id}"}}',
    )


def ack(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def stream(store: SQLiteStore, tag: str, site_id: str, user_id: str, lane: int) -> None:
    i = 0
    while True:
        ref = f"drill:{tag}:{lane}:{i}"
        if i % 3 == 0:
            result = await store.grant_once(site_id, user_id, "article", 3, ref, notify=notify)
            assert result.entry is not None
            ack(f"grant {ref} {result.entry.transaction_id}")
        else:
            deducted = await store.deduct(
                site_id, user_id, "article", 1, idempotency_key=ref, notify=notify
            )
            txn = deducted.entry.transaction_id if deducted.entry else "-"
            ack(f"deduct deduct:{site_id}:{user_id}:{ref} {int(deducted.ok)} {txn}")
        i += 1


async def main() -> None:
    path, tag, site_id, user_id = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    stores = [SQLiteStore(path) for _ in range(3)]
    for store in stores:
        await store.open()
    lanes = {0: stores[0], 1: stores[1], 2: stores[2], 3: stores[2], 4: stores[2], 5: stores[2]}
    await asyncio.gather(
        *(stream(store, tag, site_id, user_id, lane) for lane, store in lanes.items())
    )


if __name__ == "__main__":
    asyncio.run(main())
