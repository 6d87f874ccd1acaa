"""The Store contract, checkout sessions, payment intents, Stripe events, and purchases completed
by their grant. Every test runs against every backend (tests/store/conftest.py: SQLite, the
mongomock shim standing in for MongoDB, and a real MongoDB where one is available).
"""

from __future__ import annotations

import asyncio

import pytest

from service.domain.models import PurchaseCompletion
from service.store import DuplicateError, Store

from ..builders import OpenStore, balance, new_intent, new_session


async def test_grant_with_a_purchase_completes_its_record_in_the_same_write(
    store: Store, site_id: str
) -> None:
    session, intent = new_session(site_id), new_intent(site_id)
    await store.create_checkout_session(session)
    await store.create_payment_intent(intent)
    await store.transition_checkout_session(session.session_id, "pending", "expired", {})
    done = "2030-01-02T03:04:05.678000Z"
    await store.grant_once(
        site_id,
        "42",
        "article",
        10,
        f"checkout:{session.session_id}",
        purchase=PurchaseCompletion("checkout", session.session_id, "pi_late", done),
    )
    await store.grant_once(
        site_id,
        "42",
        "image",
        20,
        f"intent:{intent.payment_intent_id}",
        purchase=PurchaseCompletion("intent", intent.payment_intent_id, None, done),
    )
    stored = await store.get_checkout_session(session.session_id)
    assert (stored.status, stored.payment_intent_id, stored.completed_at) == (
        "completed",
        "pi_late",
        done,
    )
    assert (await store.get_checkout_session_by_payment_intent("pi_late")) == stored
    paid = await store.get_payment_intent(intent.payment_intent_id)
    assert (paid.status, paid.completed_at) == ("completed", done)


async def test_a_repeated_grant_completes_a_record_left_behind_and_keeps_its_fields(
    store: Store, site_id: str
) -> None:
    session = new_session(site_id, payment_intent_id="pi_first")
    await store.create_checkout_session(session)
    ref = f"checkout:{session.session_id}"
    await store.grant_once(site_id, "42", "article", 10, ref)
    again = await store.grant_once(
        site_id,
        "42",
        "article",
        10,
        ref,
        purchase=PurchaseCompletion("checkout", session.session_id, "pi_other"),
    )
    stored = await store.get_checkout_session(session.session_id)
    assert not again.applied
    assert (stored.status, stored.payment_intent_id) == ("completed", "pi_first")
    assert await balance(store, site_id) == 10


async def test_link_checkout_payment_intent_sets_it_once(store: Store, site_id: str) -> None:
    session = new_session(site_id)
    await store.create_checkout_session(session)
    assert await store.link_checkout_payment_intent(session.session_id, "pi_1")
    assert not await store.link_checkout_payment_intent(session.session_id, "pi_2")
    assert not await store.link_checkout_payment_intent("cs_missing", "pi_3")
    found = await store.get_checkout_session_by_payment_intent("pi_1")
    assert found is not None and found.session_id == session.session_id


@pytest.mark.parametrize("kind", ["checkout_session", "payment_intent"])
async def test_a_purchase_record_round_trips_and_its_id_is_taken_once(
    store: Store, site_id: str, kind: str
) -> None:
    if kind == "checkout_session":
        session = new_session(site_id)
        record, record_id = session, session.session_id
    else:
        intent = new_intent(site_id)
        record, record_id = intent, intent.payment_intent_id
    create, get = getattr(store, f"create_{kind}"), getattr(store, f"get_{kind}")
    await create(record)
    assert await get(record_id) == record
    assert await get("missing") is None
    with pytest.raises(DuplicateError):
        await create(record)


async def test_a_checkout_session_is_found_by_the_payment_intent_it_completed_with(
    store: Store, site_id: str
) -> None:
    session = new_session(site_id)
    await store.create_checkout_session(session)
    assert await store.transition_checkout_session(
        session.session_id,
        "pending",
        "completed",
        {"payment_intent_id": "pi_123", "completed_at": "2030-01-02T03:04:05.678000Z"},
    )
    found = await store.get_checkout_session_by_payment_intent("pi_123")
    assert found is not None
    assert (found.session_id, found.status, found.completed_at) == (
        session.session_id,
        "completed",
        "2030-01-02T03:04:05.678000Z",
    )
    assert await store.get_checkout_session_by_payment_intent("pi_missing") is None


async def test_checkout_session_transition_succeeds_once_and_not_from_another_status(
    store: Store, site_id: str
) -> None:
    session = new_session(site_id)
    await store.create_checkout_session(session)
    assert await store.transition_checkout_session(session.session_id, "pending", "expired", {})
    assert not await store.transition_checkout_session(
        session.session_id, "pending", "completed", {}
    )
    assert not await store.transition_checkout_session("cs_missing", "pending", "expired", {})
    assert (await store.get_checkout_session(session.session_id)).status == "expired"


async def test_concurrent_session_transitions_succeed_once(
    store: Store, site_id: str, open_store: OpenStore
) -> None:
    session = new_session(site_id)
    await store.create_checkout_session(session)
    stores = [store, await open_store()]
    results = await asyncio.gather(
        *(
            stores[i % 2].transition_checkout_session(
                session.session_id, "pending", "completed", {}
            )
            for i in range(20)
        )
    )
    assert sum(results) == 1


async def test_record_stripe_event_twice_answers_false_the_second_time(store: Store) -> None:
    assert not await store.stripe_event_seen("evt_1")
    assert await store.record_stripe_event("evt_1", "checkout.session.completed", "granted")
    assert not await store.record_stripe_event("evt_1", "checkout.session.completed", "again")
    assert await store.stripe_event_seen("evt_1")


async def test_a_stripe_event_keeps_its_first_recorded_outcome(store: Store) -> None:
    assert await store.stripe_event_outcome("evt_1") is None
    assert await store.record_stripe_event("evt_1", "charge.refunded", "rejected")
    assert not await store.record_stripe_event("evt_1", "charge.refunded", "reversed")
    assert await store.stripe_event_outcome("evt_1") == "rejected"
