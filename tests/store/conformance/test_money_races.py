"""The Store contract, money under concurrent callers: exactly once, never below zero, never more
than granted. Every test runs against every backend (tests/store/conftest.py: SQLite, the
mongomock shim standing in for MongoDB, and a real MongoDB where one is available).
"""

from __future__ import annotations

import asyncio

from service.domain.models import UserSeed
from service.store import Store

from ..builders import FREE, at_once, balance, funded, notify_plugin


async def test_200_concurrent_deducts_of_1_from_100_succeed_exactly_100_times(
    store: Store, site_id: str, stores: list[Store]
) -> None:
    await funded(store, site_id, credits=100)
    results = await at_once(stores, 200, lambda s, i: s.deduct(site_id, "42", "article", 1))
    assert sum(r.ok for r in results) == 100
    assert await balance(store, site_id) == 0
    assert (
        len(
            [
                e
                for e in await store.list_ledger(site_id=site_id, limit=500)
                if e.kind == "deduction"
            ]
        )
        == 100
    )
    assert sorted(r.entry.balance_after for r in results if r.entry) == list(range(100))
    report = await store.reconcile()
    assert report.ok, report.differences


async def test_40_concurrent_first_deducts_ensuring_one_new_user_welcome_it_once(
    store: Store, site_id: str, stores: list[Store]
) -> None:
    seed = UserSeed("wp@example.test", FREE)
    results = await at_once(
        stores, 40, lambda s, i: s.deduct(site_id, "77", "article", 1, ensure=seed)
    )
    assert sum(r.ok for r in results) == 5
    assert await balance(store, site_id, user_id="77") == 0
    kinds = [e.kind for e in await store.list_ledger(site_id=site_id, limit=500)]
    assert (kinds.count("free"), kinds.count("deduction")) == (3, 5)
    report = await store.reconcile()
    assert report.ok, report.differences


async def test_50_concurrent_grant_once_with_one_source_ref_grant_once(
    store: Store, site_id: str, stores: list[Store]
) -> None:
    notify = notify_plugin()
    results = await at_once(
        stores,
        50,
        lambda s, i: s.grant_once(site_id, "42", "article", 10, "checkout:cs_race", notify=notify),
    )
    assert sum(r.applied for r in results) == 1
    assert {r.entry.transaction_id for r in results if r.entry} == {
        (await store.get_ledger_entry("checkout:cs_race")).transaction_id
    }
    assert await balance(store, site_id) == 10
    assert await store.count_pending_webhooks() == 1
    assert (await store.reconcile()).ok


async def test_50_concurrent_deducts_with_one_idempotency_key_deduct_once(
    store: Store, site_id: str, stores: list[Store]
) -> None:
    await funded(store, site_id, credits=100)
    results = await at_once(
        stores, 50, lambda s, i: s.deduct(site_id, "42", "article", 7, idempotency_key="gen-race")
    )
    assert all(r.ok for r in results)
    assert sum(not r.replayed for r in results) == 1
    assert len({r.entry.transaction_id for r in results if r.entry}) == 1
    assert await balance(store, site_id) == 93
    assert (await store.reconcile()).ok


async def test_concurrent_deducts_with_one_key_and_a_balance_for_one_all_answer_it(
    store: Store, site_id: str, stores: list[Store]
) -> None:
    # The retry of a request whose answer was lost: it must replay the first deduction,
    # never answer 402 because the first one spent the balance.
    await funded(store, site_id, credits=7)
    results = await asyncio.gather(
        *(s.deduct(site_id, "42", "article", 7, idempotency_key="gen-1") for s in stores)
    )
    assert [r.ok for r in results] == [True] * 4
    assert sorted(r.replayed for r in results) == [False, True, True, True]
    assert len({r.entry.transaction_id for r in results if r.entry}) == 1
    assert await balance(store, site_id) == 0
    assert (await store.reconcile()).ok


async def test_concurrent_partial_refunds_of_one_grant_never_exceed_it(
    store: Store, site_id: str, stores: list[Store]
) -> None:
    await store.grant_once(site_id, "42", "article", 10, "checkout:cs_refunds")
    targets = [3, 5, 8, 5, 3, 8, 10, 12, 10, 1] * 3
    await at_once(
        stores,
        len(targets),
        lambda s, i: s.reverse("checkout:cs_refunds", targets[i], reason="refund"),
    )
    assert await balance(store, site_id) == 0
    assert (await store.reconcile()).ok


async def test_a_refused_deduct_is_never_replayed_as_success_to_a_concurrent_caller(
    store: Store, site_id: str, stores: list[Store]
) -> None:
    # Two callers with one idempotency key, neither covered: a caller must never answer
    # success by finding the other's operation while it is still in progress.
    await funded(store, site_id, credits=5)
    results = await at_once(
        stores, 8, lambda s, i: s.deduct(site_id, "42", "article", 10, idempotency_key="gen-x")
    )
    assert [r.ok for r in results] == [False] * 8
    assert await balance(store, site_id) == 5
    assert (await store.reconcile()).ok
