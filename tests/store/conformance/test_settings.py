"""The Store contract, settings, analytics and rate limits. Every test runs against every backend
(tests/store/conftest.py: SQLite, the mongomock shim standing in for MongoDB, and a real MongoDB
where one is available).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from service.store import Store

from ..builders import OpenStore, at_once


async def test_analytics_rows_are_recorded(store: Store, site_id: str, backend) -> None:
    await store.record_generation(
        site_id, {"type": "article", "model": "gpt-4o", "tokens": 812, "title": "日本語のタイトル"}
    )
    await store.record_usage(site_id, {"period": "2025-11", "articles": 3})
    assert backend.analytics_rows(site_id) == 2


async def test_settings_round_trip_and_overwrite(store: Store) -> None:
    assert await store.get_setting("providers") is None
    await store.set_setting("providers", {"openai": {"api_key": "sk-1", "models": ["a"]}})
    await store.set_setting("providers", {"openai": {"api_key": "sk-2"}})
    assert await store.get_setting("providers") == {"openai": {"api_key": "sk-2"}}


async def test_merge_setting_creates_then_merges_and_answers_before_and_after(
    store: Store,
) -> None:
    assert await store.merge_setting("stripe", {"currency": "JPY"}) == (None, {"currency": "JPY"})
    before, after = await store.merge_setting("stripe", {"public_key": "pk_1", "test_mode": None})
    assert before == {"currency": "JPY"}
    assert after == {"currency": "JPY", "public_key": "pk_1", "test_mode": None}
    assert await store.get_setting("stripe") == after
    with pytest.raises(ValueError):
        await store.merge_setting("stripe", {"a.b": 1})
    with pytest.raises(ValueError):
        await store.merge_setting("stripe", {"$inc": 1})
    assert await store.get_setting("stripe") == after


async def test_concurrent_setting_merges_all_land(store: Store, stores: list[Store]) -> None:
    """Admins on several workers change different keys of one setting at once."""
    await at_once(stores, 40, lambda s, i: s.merge_setting("provider:openai", {f"k{i}": i}))
    assert await store.get_setting("provider:openai") == {f"k{i}": i for i in range(40)}


async def test_rate_limit_counts_per_key_and_window(store: Store) -> None:
    window = int(time.time() // 60) * 60
    assert [await store.hit_rate_limit("site:a", window) for _ in range(3)] == [1, 2, 3]
    assert await store.hit_rate_limit("site:b", window) == 1
    assert await store.hit_rate_limit("site:a", window + 60) == 1


async def test_concurrent_rate_limit_hits_are_all_counted(
    store: Store, open_store: OpenStore
) -> None:
    window = int(time.time() // 60) * 60
    stores = [store, await open_store()]
    counts = await asyncio.gather(
        *(stores[i % 2].hit_rate_limit("site:c", window) for i in range(40))
    )
    assert sorted(counts) == list(range(1, 41))


async def test_rate_limit_hits_add_up_in_batches(store: Store, open_store: OpenStore) -> None:
    window = int(time.time() // 60) * 60
    other = await open_store()
    assert await store.hit_rate_limit("site:batch", window, 5) == 5
    assert await other.hit_rate_limit("site:batch", window, 7) == 12
    assert await store.hit_rate_limit("site:batch", window) == 13
