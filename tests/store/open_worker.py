"""One Sanic-worker stand-in for the start-up test: opens a fresh store file in step with others.

    python open_worker.py STORE_FILE [STORE_FILE ...]

For each file: prints `ready`, waits for a line on stdin (so every worker opens it at once, as
Sanic's workers start together), opens the store on it within a few milliseconds of the
others, seeds the packages (the app's first write) and closes it. Prints `ok` at the end, or
the first error.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

from service.domain.catalogue import DEFAULT_PACKAGES
from service.store import SQLiteStore


async def open_in_step(path: Path) -> None:
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    time.sleep(random.uniform(0, 0.004))  # workers start within milliseconds of each other
    store = SQLiteStore(path)
    try:
        await store.open()
        await store.seed_packages(DEFAULT_PACKAGES)
    finally:
        await store.close()


async def main() -> None:
    try:
        for name in sys.argv[1:]:
            await open_in_step(Path(name))
    except Exception as exc:
        print(f"failed {name}: {exc!r}", flush=True)
        return
    print("ok", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
