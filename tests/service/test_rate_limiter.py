"""Rate-limit counts kept in memory per worker and written to the store in batches
(`service.http.rate_limits`), on a real SQLite store."""

from __future__ import annotations

import pytest

from service.errors import ApiError
from service.http.rate_limits import RateLimiter
from service.store import SQLiteStore

NOW = 1_800_000_030.0  # half a minute into a window
WINDOW = 1_800_000_000


@pytest.fixture
async def store(tmp_path):
    store = SQLiteStore(tmp_path / "limits.sqlite3")
    await store.open()
    yield store
    await store.close()


async def test_counts_reach_the_store_in_batches_of_a_twentieth_of_the_limit(store):
    limiter = RateLimiter(store, 100)
    assert limiter.batch == 5
    for _ in range(4):
        await limiter.hit("site:a", NOW)
    # Nothing written yet: another worker's hit is the window's first.
    assert await store.hit_rate_limit("site:a", WINDOW) == 1
    await limiter.hit("site:a", NOW)  # the fifth: the batch is written
    assert await store.hit_rate_limit("site:a", WINDOW) == 7


async def test_flush_writes_what_is_pending_and_forgets_past_windows(store):
    limiter = RateLimiter(store, 100)
    await limiter.hit("site:b", NOW)
    await limiter.hit("site:b", NOW)
    await limiter.flush_pending(NOW)
    assert await store.hit_rate_limit("site:b", WINDOW) == 3
    await limiter.flush_pending(NOW + 60)  # the next minute: the old window is dropped
    assert "site:b" not in limiter._counters


async def test_one_worker_is_exact_at_the_limit(store):
    limiter = RateLimiter(store, 100)
    for _ in range(100):
        await limiter.hit("site:c", NOW)
    with pytest.raises(ApiError) as refused:
        await limiter.hit("site:c", NOW)
    assert refused.value.status == 429
    assert refused.value.headers["Retry-After"] == "30"


async def test_two_workers_admit_at_most_the_stated_tolerance(store):
    """limit + workers x batch, whatever the interleaving of their calls."""
    for pattern in ("alternate", "bursts"):
        workers = [RateLimiter(store, 100), RateLimiter(store, 100)]
        admitted = 0
        for i in range(300):
            worker = workers[i % 2] if pattern == "alternate" else workers[(i // 7) % 2]
            try:
                await worker.hit(f"site:{pattern}", NOW)
                admitted += 1
            except ApiError:
                pass
        assert 100 <= admitted <= 100 + 2 * 5, (pattern, admitted)


async def test_small_limits_are_written_through_and_exact_across_workers(store):
    one, two = RateLimiter(store, 20), RateLimiter(store, 20)
    assert one.batch == 1
    admitted = 0
    for i in range(40):
        try:
            await (one if i % 2 else two).hit("site:small", NOW)
            admitted += 1
        except ApiError:
            pass
    assert admitted == 20
