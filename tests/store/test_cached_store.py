"""A worker's cache of sites and packages (`service.store.cached`), on each adapter (SQLite;
MongoDB when one answers; mongomock checks the calls' shapes only, not MongoDB): fresh through
the store's version counters whatever connection (worker, machine) wrote."""

from __future__ import annotations

from service.flows.public_catalogue import PublicCatalogue
from service.store.cached import CachedStore

from .builders import new_package, new_site


async def test_a_site_written_elsewhere_is_seen_at_the_next_version_check(store, open_store):
    other_worker = await open_store()
    site = await store.create_site(new_site())
    cache = CachedStore(store, check_every=3600)
    assert (await cache.cached_site_by_instance(site.instance_id)).active
    await other_worker.update_site(site.site_id, {"status": "disabled"})
    # Within check_every the cache answers what it holds...
    assert (await cache.cached_site_by_instance(site.instance_id)).active
    # ...and the first check after it sees the counter moved.
    cache.check_every = 0
    assert not (await cache.cached_site_by_instance(site.instance_id)).active


async def test_a_write_through_the_cache_is_seen_at_once(store):
    site = await store.create_site(new_site())
    cache = CachedStore(store, check_every=3600)
    await cache.cached_site_by_instance(site.instance_id)
    await cache.update_site(site.site_id, {"status": "disabled"})
    assert not (await cache.cached_site_by_instance(site.instance_id)).active
    await cache.reassign_instance(site.site_id, "inst-new", site.token_hash)
    assert await cache.cached_site_by_instance(site.instance_id) is None
    assert (await cache.cached_site_by_instance("inst-new")).site_id == site.site_id


async def test_a_site_by_id_follows_the_same_counters(store, open_store):
    """`cached_site`, what each round of webhook deliveries reads: stale at most until the
    next check when written elsewhere, fresh at once when written through the cache."""
    other_worker = await open_store()
    site = await store.create_site(new_site())
    cache = CachedStore(store, check_every=3600)
    assert await cache.cached_site("site_unknown") is None
    assert (await cache.cached_site(site.site_id)).active
    await other_worker.update_site(site.site_id, {"status": "disabled"})
    assert (await cache.cached_site(site.site_id)).active
    cache.check_every = 0
    assert not (await cache.cached_site(site.site_id)).active
    cache.check_every = 3600
    await cache.update_site(site.site_id, {"status": "active"})
    assert (await cache.cached_site(site.site_id)).active


async def test_unknown_instances_are_not_cached(store, open_store):
    cache = CachedStore(store, check_every=3600)
    assert await cache.cached_site_by_instance("inst-later") is None
    site = await (await open_store()).create_site(new_site(instance_id="inst-later"))
    assert (await cache.cached_site_by_instance("inst-later")).site_id == site.site_id


async def test_packages_follow_their_counter(store, open_store):
    other_worker = await open_store()
    await store.create_package(new_package("pkg_a"))
    cache = CachedStore(store, check_every=3600)
    assert [p.package_id for p in await cache.cached_packages()] == ["pkg_a"]
    await other_worker.update_package("pkg_a", {"active": False})
    assert [p.package_id for p in await cache.cached_packages()] == ["pkg_a"]
    cache.check_every = 0
    assert await cache.cached_packages() == []


async def test_a_load_that_raced_a_local_write_is_not_kept(store):
    site = await store.create_site(new_site())
    cache = CachedStore(store, check_every=3600)
    await cache.cached_site_by_instance("warm-the-versions")
    real = store.get_site_by_instance

    async def slow_read(instance_id):
        found = await real(instance_id)  # the old row...
        await store.update_site(site.site_id, {"status": "disabled"})
        cache.invalidate()  # ...while this worker disables it
        return found

    cache.get_site_by_instance = slow_read
    assert (await cache.cached_site_by_instance(site.instance_id)).active
    del cache.get_site_by_instance
    assert not (await cache.cached_site_by_instance(site.instance_id)).active


async def test_the_public_catalogue_is_grouped_once_per_package_list(store, open_store):
    other_worker = await open_store()
    cache = CachedStore(store, check_every=0)
    catalogue = PublicCatalogue(cache)
    assert await catalogue.grouped() is None  # nothing active yet
    await other_worker.create_package(new_package("pkg_a"))
    first = await catalogue.grouped()
    assert first is not None
    assert [p["id"] for p in first["articles"]] == ["pkg_a"]
    assert await catalogue.grouped() is first  # the same list: not grouped again
    await other_worker.update_package("pkg_a", {"name": "Renamed"})
    renamed = await catalogue.grouped()
    assert renamed is not first and renamed["articles"][0]["name"] == "Renamed"
    await other_worker.update_package("pkg_a", {"active": False})
    assert await catalogue.grouped() is None


async def test_the_inner_stores_methods_are_kept_and_its_other_attributes_read_each_time(store):
    """A pass-through method is found on the cache after its first call (no lookup through
    `__getattr__` per deduction); a cached write kept so still drops the cache each call; a
    plain attribute of the inner store is read from it each time."""
    site = await store.create_site(new_site())
    cache = CachedStore(store, check_every=3600)
    assert "get_site" not in vars(cache)
    assert (await cache.get_site(site.site_id)).site_id == site.site_id
    assert vars(cache)["get_site"] == store.get_site
    for status in ("disabled", "active"):
        await cache.cached_site_by_instance(site.instance_id)
        await cache.set_site_status(site.site_id, status, None)
        assert (await cache.cached_site_by_instance(site.instance_id)).status == status
    assert "set_site_status" in vars(cache)
    store.marker = "first"
    assert cache.marker == "first"
    store.marker = "second"
    assert cache.marker == "second" and "marker" not in vars(cache)
