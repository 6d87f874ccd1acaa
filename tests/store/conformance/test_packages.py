"""The Store contract, credit packages. Every test runs against every backend
(tests/store/conftest.py: SQLite, the mongomock shim standing in for MongoDB, and a real MongoDB
where one is available).
"""

from __future__ import annotations

import asyncio

import pytest

from service.store import DuplicateError, Store

from ..builders import OpenStore, new_package


async def test_seed_packages_only_into_an_empty_catalogue(store: Store) -> None:
    await store.seed_packages([new_package("article_10"), new_package("image_20")])
    await store.seed_packages([new_package("rewrite_5")])
    assert [p.package_id for p in await store.list_packages()] == ["article_10", "image_20"]


async def test_create_package_with_a_taken_id_raises_duplicate(store: Store) -> None:
    await store.create_package(new_package("article_10"))
    with pytest.raises(DuplicateError):
        await store.create_package(new_package("article_10", name="Other"))


async def test_update_package_and_list_active_only(store: Store) -> None:
    await store.create_package(new_package("b_pack", sort_order=2))
    await store.create_package(new_package("a_pack", sort_order=2))
    await store.create_package(new_package("z_first", sort_order=1, is_popular=True))
    updated = await store.update_package("b_pack", {"active": False, "price": 900})
    assert updated is not None and (updated.active, updated.price) == (False, 900)
    assert await store.get_package("b_pack") == updated
    assert await store.update_package("missing", {"price": 1}) is None
    assert [p.package_id for p in await store.list_packages()] == ["z_first", "a_pack"]
    assert [p.package_id for p in await store.list_packages(active_only=False)] == [
        "z_first",
        "a_pack",
        "b_pack",
    ]
    assert (await store.get_package("z_first")).is_popular is True


async def test_concurrent_package_updates_of_different_fields_all_land(
    store: Store, open_store: OpenStore
) -> None:
    await store.create_package(new_package("pkg_race"))
    other = await open_store()
    await asyncio.gather(
        *(
            (store if i % 2 else other).update_package(
                "pkg_race", {"price": 1000 + i} if i % 2 else {"sort_order": i}
            )
            for i in range(20)
        ),
        store.update_package("pkg_race", {"name": "Renamed"}),
        other.update_package("pkg_race", {"description": "New words"}),
    )
    package = await store.get_package("pkg_race")
    assert package is not None
    assert (package.name, package.description) == ("Renamed", "New words")
    assert package.price in {1000 + i for i in range(1, 20, 2)}
    assert package.sort_order in set(range(0, 20, 2))
