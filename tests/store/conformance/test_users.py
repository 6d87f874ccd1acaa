"""The Store contract, users and their welcome credits. Every test runs against every backend
(tests/store/conftest.py: SQLite, the mongomock shim standing in for MongoDB, and a real MongoDB
where one is available).
"""

from __future__ import annotations

from service.domain.models import Balances
from service.store import Store

from ..builders import FREE, new_site


async def test_ensure_user_grants_free_credits_as_free_ledger_entries(
    store: Store, site_id: str
) -> None:
    user = await store.ensure_user(site_id, "42", "wp@example.test", FREE)
    assert (user.user_id, user.email) == ("42", "wp@example.test")
    assert user.balances == Balances(article=5, image=10, rewrite=3)
    entries = await store.list_ledger(site_id=site_id, user_id="42")
    assert sorted((e.credit_type, e.delta, e.kind) for e in entries) == [
        ("article", 5, "free"),
        ("image", 10, "free"),
        ("rewrite", 3, "free"),
    ]
    assert all(e.balance_after == e.delta for e in entries)


async def test_ensure_user_again_grants_nothing_more(store: Store, site_id: str) -> None:
    await store.ensure_user(site_id, "42", None, FREE)
    again = await store.ensure_user(site_id, "42", None, FREE)
    assert again.balances == Balances(article=5, image=10, rewrite=3)
    assert len(await store.list_ledger(site_id=site_id)) == 3


async def test_ensure_user_updates_a_new_email_and_keeps_it_when_none_given(
    store: Store, site_id: str
) -> None:
    await store.ensure_user(site_id, "42", "old@example.test", FREE)
    assert (
        await store.ensure_user(site_id, "42", "new@example.test", FREE)
    ).email == "new@example.test"
    assert (await store.ensure_user(site_id, "42", None, FREE)).email == "new@example.test"
    assert (await store.ensure_user(site_id, "42", "", FREE)).email == "new@example.test"


async def test_ensure_user_with_no_free_credits_writes_no_ledger_entry(
    store: Store, site_id: str
) -> None:
    user = await store.ensure_user(site_id, "7", None, {})
    assert user.balances == Balances()
    assert await store.list_ledger(site_id=site_id) == []


async def test_get_and_list_users(store: Store, site_id: str) -> None:
    other_site = (await store.create_site(new_site())).site_id
    await store.ensure_user(site_id, "1", None, FREE)
    await store.ensure_user(site_id, "2", None, {})
    await store.ensure_user(other_site, "3", None, {})
    assert await store.get_user(site_id, "99") is None
    users = await store.list_users(site_id)
    assert [(u.user_id, u.balances.image) for u in users] == [("1", 10), ("2", 0)]
    assert [u.user_id for u in await store.list_users(site_id, limit=1, offset=1)] == ["2"]
