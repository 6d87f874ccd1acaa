"""The crash drill's victim: a stream of grants and deductions on one SQLite file.

    python crash_worker.py STORE_FILE RUN_TAG SITE_ID USER_ID

Two streams run at once, each on its own store (own connection, as two workers have).
After each operation has returned it prints one line and flushes:

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
    return WebhookDraft(entry.site_id, "https://wp.example.test/hook", "credits_updated",
                        f'{{"transaction_id": "{entry.transaction_id}"}}')


def ack(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def stream(path: Path, tag: str, site_id: str, user_id: str, lane: int) -> None:
    store = SQLiteStore(path)
    await store.open()
    i = 0
    while True:
        ref = f"drill:{tag}:{lane}:{i}"
        if i % 3 == 0:
            result = await store.grant_once(site_id, user_id, "article", 3, ref, notify=notify)
            assert result.entry is not None
            ack(f"grant {ref} {result.entry.transaction_id}")
        else:
            deducted = await store.deduct(site_id, user_id, "article", 1, idempotency_key=ref,
                                          notify=notify)
            txn = deducted.entry.transaction_id if deducted.entry else "-"
            ack(f"deduct deduct:{site_id}:{user_id}:{ref} {int(deducted.ok)} {txn}")
        i += 1


async def main() -> None:
    path, tag, site_id, user_id = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    await asyncio.gather(*(stream(path, tag, site_id, user_id, lane) for lane in (0, 1)))


if __name__ == "__main__":
    asyncio.run(main())
