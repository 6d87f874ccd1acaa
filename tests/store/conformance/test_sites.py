"""The Store contract, sites: registration, updates, config, status, instance ids. Every test runs
against every backend (tests/store/conftest.py: SQLite, the mongomock shim standing in for
MongoDB, and a real MongoDB where one is available).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from service.store import DuplicateError, Store

from ..builders import new_site


async def test_create_site_then_get_it_by_id_and_by_instance(store: Store) -> None:
    site = new_site()
    assert await store.create_site(site) == site
    assert await store.get_site(site.site_id) == site
    assert await store.get_site_by_instance(site.instance_id) == site
    assert await store.get_site("site_missing") is None
    assert await store.get_site_by_instance("inst-missing") is None


async def test_create_site_with_a_taken_instance_id_raises_duplicate(store: Store) -> None:
    first = await store.create_site(new_site())
    with pytest.raises(DuplicateError):
        await store.create_site(new_site(instance_id=first.instance_id))


async def test_list_sites_newest_first_and_by_status(store: Store) -> None:
    a = await store.create_site(new_site())
    b = await store.create_site(new_site(status="disabled", disabled_reason="abuse"))
    c = await store.create_site(new_site())
    assert [s.site_id for s in await store.list_sites()] == [c.site_id, b.site_id, a.site_id]
    assert [s.site_id for s in await store.list_sites(status="disabled")] == [b.site_id]
    assert [s.site_id for s in await store.list_sites(limit=1, offset=1)] == [b.site_id]


async def test_update_site_merges_metadata_and_never_touches_secrets(store: Store) -> None:
    site = await store.create_site(new_site(metadata={"a": 1, "b": 1}))
    updated = await store.update_site(
        site.site_id,
        {
            "metadata": {"b": 2, "c": 3},
            "status": "disabled",
            "disabled_reason": "unpaid",
            "site_url": "https://moved.test",
            "token_hash": "sha256:forged",
            "webhook_secret": "whsec_forged",
            "site_id": "x",
            "instance_id": "y",
        },
    )
    assert updated is not None
    assert updated.metadata == {"a": 1, "b": 2, "c": 3}
    assert updated.config == site.config
    assert (updated.status, updated.disabled_reason) == ("disabled", "unpaid")
    assert updated.site_url == "https://moved.test"
    stored = await store.get_site(site.site_id)
    assert stored == updated
    assert (stored.token_hash, stored.webhook_secret) == (site.token_hash, site.webhook_secret)
    assert (stored.site_id, stored.instance_id) == (site.site_id, site.instance_id)


async def test_update_of_an_unknown_site_answers_none(store: Store) -> None:
    assert await store.update_site("site_missing", {"status": "disabled"}) is None
    assert await store.update_site_config("site_missing", {"provider": "openai"}) is None


async def test_update_site_refuses_to_replace_the_config(store: Store) -> None:
    site = await store.create_site(new_site())
    with pytest.raises(TypeError, match="update_site_config"):
        await store.update_site(site.site_id, {"config": {}})
    assert await store.get_site(site.site_id) == site


async def test_update_site_config_sets_and_removes_named_keys_and_answers_before_and_after(
    store: Store,
) -> None:
    site = await store.create_site(new_site(config={"provider_access": "approved", "model": "a"}))

    change = await store.update_site_config(
        site.site_id, {"provider": "openai", "model": "b"}, ["provider_access", "absent"]
    )

    assert change is not None
    before, after = change
    assert before.config == {"provider_access": "approved", "model": "a"}
    assert after.config == {"provider": "openai", "model": "b"}
    assert await store.get_site(site.site_id) == after
    assert replace(after, config=before.config, updated_at=before.updated_at) == before


@pytest.mark.parametrize(
    ("changes", "remove"),
    [
        ({"a.b": 1}, []),
        ({"$where": 1}, []),
        ({"": 1}, []),
        ({}, ["config.x"]),
        ({}, ["$unset"]),
        ({"model": "a"}, ["model"]),
    ],
)
async def test_update_site_config_refuses_keys_that_are_not_plain_names(
    store: Store, changes: dict, remove: list
) -> None:
    site = await store.create_site(new_site())
    with pytest.raises(ValueError):
        await store.update_site_config(site.site_id, changes, remove)
    with pytest.raises(TypeError):
        await store.update_site_config(site.site_id, {}, "webhook_url")
    assert await store.get_site(site.site_id) == site


async def test_concurrent_config_writers_from_stale_copies_never_undo_each_other(
    store: Store, stores: list[Store]
) -> None:
    """An admin revokes access while plugin calls on other workers, each holding a copy of
    the site from before the revocation, write their provider choice: every key written
    survives, and the revocation too."""
    site = await store.create_site(new_site(config={"provider_access": "approved"}))
    stale = await stores[1].get_site(site.site_id)
    assert stale is not None and stale.config["provider_access"] == "approved"

    await asyncio.gather(
        store.update_site_config(site.site_id, {}, ["provider_access"]),
        *(
            stores[i % len(stores)].update_site_config(stale.site_id, {f"key_{i}": i})
            for i in range(40)
        ),
        stores[2].update_site_config(site.site_id, {"provider": "openai"}),
    )

    stored = await store.get_site(site.site_id)
    assert stored is not None
    assert stored.config == {"provider": "openai", **{f"key_{i}": i for i in range(40)}}


async def test_set_site_status_answers_the_site_before_and_after(store: Store) -> None:
    site = await store.create_site(new_site())

    change = await store.set_site_status(site.site_id, "disabled", "unpaid")

    assert change is not None
    before, after = change
    assert before == site
    assert (after.status, after.disabled_reason) == ("disabled", "unpaid")
    assert await store.get_site(site.site_id) == after
    assert replace(after, status="active", disabled_reason=None, updated_at=site.updated_at) == site
    assert await store.set_site_status("site_missing", "active", None) is None


async def test_set_site_status_for_an_instance_id_the_site_no_longer_holds_writes_nothing(
    store: Store,
) -> None:
    site = await store.create_site(new_site(status="disabled", disabled_reason="released"))
    moved = await store.reassign_instance(site.site_id, f"released/{site.site_id}", "new-hash")

    change = await store.set_site_status(site.site_id, "active", None, instance_id=site.instance_id)

    assert change == (moved, moved)
    assert await store.get_site(site.site_id) == moved
    held = await store.set_site_status(
        site.site_id, "active", None, instance_id=f"released/{site.site_id}"
    )
    assert held is not None and held[1].active


async def test_reassign_instance_frees_the_old_id_and_replaces_the_token(store: Store) -> None:
    site = await store.create_site(new_site())
    other = await store.create_site(new_site())

    moved = await store.reassign_instance(site.site_id, f"released/{site.site_id}", "new-hash")

    assert moved is not None and moved.instance_id == f"released/{site.site_id}"
    assert moved.token_hash == "new-hash" and moved.webhook_secret == site.webhook_secret
    assert await store.get_site_by_instance(site.instance_id) is None
    assert await store.create_site(new_site(instance_id=site.instance_id))
    with pytest.raises(DuplicateError):
        await store.reassign_instance(site.site_id, other.instance_id, "x")
    assert await store.reassign_instance("site_missing", "free-id", "x") is None
