"""Stripe's events racing the plugin's verify and confirm calls: one grant whatever the order."""

from __future__ import annotations

import pytest

from .wordpress import FREE, assert_bought_once, assert_settled, checkout_ref, intent_ref, settle

pytestmark = pytest.mark.e2e

COMPLETED = "checkout.session.completed"


async def test_webhook_before_verify_grants_once(harness, wordpress):
    session_id = await wordpress.checkout("article_starter")

    await settle(harness, session_id)

    granted = await wordpress.entries("purchase")
    assert [e["source_ref"] for e in granted] == [checkout_ref(session_id)]
    status, body = await wordpress.verify(session_id)
    assert status == 200, body
    assert body["status"] == "already_completed"
    assert body["credits_added"] == 10
    await assert_bought_once(wordpress, session_id)


async def test_verify_before_webhook_grants_once(harness, wordpress):
    session_id = await wordpress.checkout("article_starter")
    await harness.stripe.faults(drop=1, event_type=COMPLETED)

    await settle(harness, session_id)
    await harness.stripe.clear_faults()
    assert await wordpress.entries("purchase") == []  # the event never arrived
    status, body = await wordpress.verify(session_id)
    assert status == 200, body
    assert body["status"] == "completed" and body["credits_added"] == 10

    [event_id] = await harness.stripe.event_ids(COMPLETED)
    await harness.stripe.resend(event_id)
    await harness.stripe.drain()

    attempts = await harness.stripe.deliveries(event_id=event_id)
    assert [a["fault"] for a in attempts] == ["dropped", None]
    assert attempts[-1]["status_code"] == 200
    await assert_bought_once(wordpress, session_id)


async def test_duplicated_and_reordered_webhooks_grant_once(harness, wordpress):
    duplicated = await wordpress.checkout("article_starter")
    await harness.stripe.faults(duplicate=3)
    await settle(harness, duplicated)

    reordered = await wordpress.checkout("image_starter")
    await harness.stripe.faults(reverse_pairs=True)
    await settle(harness, reordered)

    intent = await wordpress.create_intent("image_starter")
    await harness.stripe.faults(duplicate=2, reverse_pairs=True)
    await harness.stripe.control(f"payment_intents/{intent}/succeed")
    await harness.stripe.drain()

    duplicated_event, reordered_event = await harness.stripe.event_ids(COMPLETED)
    copies = await harness.stripe.deliveries(event_id=duplicated_event)
    assert len(copies) == 4 and all(c["status_code"] == 200 for c in copies), copies
    log = [(a["type"], a["event_id"], a["fault"]) for a in await harness.stripe.deliveries()]
    session_pair = [
        i
        for i, (kind, event_id, fault) in enumerate(log)
        if fault
        and "reverse_pairs" in fault
        and (event_id == reordered_event or kind == "payment_intent.succeeded")
    ]
    assert log[session_pair[0]][0] == "payment_intent.succeeded", log  # the partner went first
    assert log[session_pair[1]][1] == reordered_event, log
    for session_id in (duplicated, reordered):
        status, body = await wordpress.verify(session_id)
        assert status == 200 and body["status"] == "already_completed", body
    status, body = await wordpress.confirm(intent)
    assert status == 200 and body["status"] == "already_completed", body
    await assert_settled(
        wordpress,
        payments={
            checkout_ref(duplicated): 10,
            checkout_ref(reordered): 20,
            intent_ref(intent): 20,
        },
        credits={**FREE, "article": 15, "image": 50},
    )
