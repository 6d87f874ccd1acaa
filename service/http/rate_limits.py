"""Per-minute rate limits, counted in memory and written to the store in batches.

Each worker counts its own calls per (key, minute window) and adds them to the store's shared
counter (`Store.hit_rate_limit(key, window, amount)`) when it has `batch` of them unwritten, or
at the latest `flush_every` seconds after the first of them (`flush_pending`, run by the app
every second). Each write answers the shared total, which the worker then decides with:
`total last written + its own unwritten calls`.

`batch` is `limit // 20` (at least 1), so a limit of 20 a minute or less is written through
on every call and exact across workers and machines. Above it, the tolerance: each worker
admits at most `batch` calls the others have not seen yet, so a site gets at most
`limit + workers x batch` calls a minute (the default 100 a minute with 2 workers: at most
110), and at most `batch - 1` unwritten calls of a worker are lost if it is killed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from ..errors import RateLimited
from ..store import Store

log = logging.getLogger("rakubun.rate_limits")

#: How often unwritten counts reach the store at the latest (seconds).
FLUSH_EVERY = 1.0


@dataclass
class _Counter:
    window: int
    total: int = 0  # the store's count for the window, as last answered
    pending: int = 0  # this worker's calls the store has not counted yet


class RateLimiter:
    def __init__(self, store: Store, limit_per_minute: int) -> None:
        self.store = store
        self.limit = limit_per_minute
        self.batch = max(1, limit_per_minute // 20)
        self._counters: dict[str, _Counter] = {}

    async def hit(self, key: str, now: float | None = None) -> None:
        """Count one call of `key`; ApiError 429 past the limit."""
        if self.limit <= 0:
            return
        now = time.time() if now is None else now
        window = int(now // 60) * 60
        counter = self._counters.get(key)
        if counter is None or counter.window != window:
            counter = self._counters[key] = _Counter(window)
        counter.pending += 1
        if counter.pending >= self.batch:
            await self._write(key, counter)
        if counter.total + counter.pending > self.limit:
            retry_after = max(1, math.ceil(window + 60 - now))
            raise RateLimited(
                f"Too many requests; retry in {retry_after} seconds",
                headers={"Retry-After": str(retry_after)},
            )

    async def _write(self, key: str, counter: _Counter) -> None:
        amount, counter.pending = counter.pending, 0
        try:
            total = await self.store.hit_rate_limit(key, counter.window, amount)
        except BaseException:
            counter.pending += amount  # counted at the next write
            raise
        counter.total = max(counter.total, total)  # two writes may answer out of order

    async def flush_pending(self, now: float | None = None) -> None:
        """Write every unwritten count; forget the windows that are over."""
        window = int((time.time() if now is None else now) // 60) * 60
        for key, counter in list(self._counters.items()):
            if counter.pending:
                await self._write(key, counter)
            if counter.window < window and self._counters.get(key) is counter:
                del self._counters[key]

    async def run(self, stop: asyncio.Event, every: float = FLUSH_EVERY) -> None:
        """Flush every `every` seconds until `stop` is set, then once more."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass
            try:
                await self.flush_pending()
            except Exception:  # the store is down: the counts wait for the next turn
                log.exception("could not write the rate-limit counts")
