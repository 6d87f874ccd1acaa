"""The Store contract, the store as a whole: the protocol, reopening, cache versions. Every test
runs against every backend (tests/store/conftest.py: SQLite, the mongomock shim standing in for
MongoDB, and a real MongoDB where one is available).
"""

from __future__ import annotations

import inspect

from service.store import Store

from ..builders import FREE, OpenStore, balance, funded, new_package, new_site


async def test_store_implements_the_protocol_and_answers_ping(store: Store) -> None:
    assert isinstance(store, Store)
    for name, method in inspect.getmembers(Store, inspect.isfunction):
        if not name.startswith("_"):
            ours = getattr(type(store), name)
            assert inspect.iscoroutinefunction(ours), name
            assert inspect.signature(ours) == inspect.signature(method), name
    assert await store.ping() is True


async def test_reopening_the_storage_keeps_everything(
    store: Store, site_id: str, open_store: OpenStore
) -> None:
    await funded(store, site_id, credits=7)
    again = await open_store()
    assert await balance(again, site_id) == 7
    assert (await again.get_site(site_id)) is not None


async def test_every_write_of_sites_and_packages_moves_its_cache_version(
    store: Store, open_store: OpenStore
) -> None:
    """What workers cache is kept fresh through these counters, read through another
    connection (another worker, or another machine on the same MongoDB)."""
    other = await open_store()
    site = await store.create_site(new_site())
    writes = {
        "sites": [
            lambda: store.update_site(site.site_id, {"status": "disabled"}),
            lambda: store.reassign_instance(site.site_id, "inst-moved", "hash-2"),
        ],
        "packages": [
            lambda: store.create_package(new_package("pkg_cached")),
            lambda: store.update_package("pkg_cached", {"active": False}),
        ],
    }
    for name, steps in writes.items():
        for step in steps:
            before = await other.cache_versions()
            await step()
            after = await other.cache_versions()
            assert after[name] > before[name], name
            unmoved = [n for n in after if n != name]
            assert all(after[n] == before[n] for n in unmoved), (name, before, after)
    # Reads and money leave the counters alone.
    before = await other.cache_versions()
    await store.get_site_by_instance("inst-moved")
    await store.list_packages()
    await store.ensure_user(site.site_id, "1", None, FREE)
    await store.deduct(site.site_id, "1", "article", 1)
    assert await other.cache_versions() == before
