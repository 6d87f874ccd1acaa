"""One Sanic-worker stand-in for the cross-process test: its own SQLiteStore on a shared file.

    python deduct_worker.py STORE_FILE SITE_ID USER_ID COUNT

Prints `ready` once open, waits for a line on stdin (so all workers start together), then
deducts 1 credit COUNT times concurrently and prints how many succeeded.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from service.store import SQLiteStore


async def main() -> None:
    path, site_id, user_id, count = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    stores = [SQLiteStore(path), SQLiteStore(path)]
    for store in stores:
        await store.open()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    results = await asyncio.gather(
        *(stores[i % 2].deduct(site_id, user_id, "article", 1) for i in range(count))
    )
    print(f"ok {sum(r.ok for r in results)}", flush=True)
    for store in stores:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
