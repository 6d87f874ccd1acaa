"""Stripe's signed events: verified, deduplicated, and applied exactly once."""

from __future__ import annotations

import json
import time

from tests.support.stripe import WEBHOOK_SECRET, StripeWorld, signature_header

SESSION_COMPLETED = "checkout.session.completed"


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    return signature_header(payload, secret, at)


async def post_event(world: StripeWorld, event: dict, signature: str | None):
    payload = json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return await world.http.post(
        f"{world.service.url}/api/v1/webhooks/stripe", content=payload, headers=headers
    )


def completed_event(session_id: str, event_id: str = "evt_test_1") -> dict:
    return {
        "id": event_id,
        "object": "event",
        "type": SESSION_COMPLETED,
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "payment_status": "paid",
                "status": "complete",
                "payment_intent": "pi_x",
            }
        },
    }


async def test_bad_and_stale_signatures_are_rejected_and_write_nothing(world: StripeWorld):
    session_id = await world.checkout()
    event = completed_event(session_id)
    payload = json.dumps(event).encode()

    cases = {
        "missing": None,
        "wrong secret": signed(payload, secret="whsec_wrong"),
        "stale": signed(payload, at=int(time.time()) - 301),
        "garbage": "not-a-signature",
    }
    for name, signature in cases.items():
        response = await post_event(world, event, signature)
        assert response.status_code == 400, name
        assert response.json()["error"] == "invalid_signature", name

    assert not await world.service.store.stripe_event_seen("evt_test_1")
    assert await world.purchases("checkout:") == []


async def test_a_tampered_body_is_rejected(world: StripeWorld):
    session_id = await world.checkout()
    signature = signed(json.dumps(completed_event(session_id)).encode())
    tampered = completed_event(session_id)
    tampered["data"]["object"]["id"] = "cs_other"
    response = await post_event(world, tampered, signature)
    assert response.status_code == 400


async def test_fake_stripe_bad_and_stale_deliveries_are_refused_then_retried_correctly(
    world: StripeWorld,
):
    session_id = await world.checkout()
    await world.faults(bad_signature=True, event_type=SESSION_COMPLETED)
    await world.pay(session_id)
    await world.fake.drain()

    attempts = [d for d in world.fake.deliveries if d["type"] == SESSION_COMPLETED]
    assert [d["status_code"] for d in attempts] == [400, 200]
    assert (await world.site.credits())["article_credits"] == 15


async def test_a_signed_event_for_our_session_grants_once_and_replays_are_duplicates(
    world: StripeWorld,
):
    session_id = await world.checkout()
    await world.faults(drop=1, event_type=SESSION_COMPLETED)
    await world.pay(session_id)
    await world.fake.drain()
    event = completed_event(session_id)
    payload_sig = signed(json.dumps(event).encode())

    first = await post_event(world, event, payload_sig)
    second = await post_event(world, event, payload_sig)

    assert first.json()["outcome"] == "granted"
    assert second.json()["outcome"] == "duplicate"
    assert len(await world.purchases("checkout:")) == 1


async def test_unknown_event_types_are_ignored(world: StripeWorld):
    event = {
        "id": "evt_unknown",
        "object": "event",
        "type": "customer.created",
        "data": {"object": {"id": "cus_1"}},
    }
    response = await post_event(world, event, signed(json.dumps(event).encode()))
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"


async def test_webhooks_without_a_configured_secret_answer_not_configured(make_service):
    service = await make_service()
    response = await service.http.post(
        f"{service.url}/api/v1/webhooks/stripe",
        content=b"{}",
        headers={"Stripe-Signature": "t=1,v1=x"},
    )
    assert (response.status_code, response.json()["error"]) == (500, "payment_not_configured")


async def test_refund_reverses_the_refunded_share_of_the_credits(world: StripeWorld):
    intent_id = await world.intent("image_starter")  # 20 credits for 300 JPY
    await world.control(f"payment_intents/{intent_id}/succeed")
    await world.fake.drain()

    await world.control(f"payment_intents/{intent_id}/refund", {"amount": 150})
    await world.fake.drain()
    half = (await world.site.credits())["image_credits"]
    await world.control(f"payment_intents/{intent_id}/refund", {})
    await world.fake.drain()
    full = (await world.site.credits())["image_credits"]

    assert half == 10 + 20 - 10
    assert full == 10
    assert (await world.service.store.reconcile()).ok


async def test_refund_of_a_checkout_purchase_reverses_it(world: StripeWorld):
    session_id = await world.checkout()
    paid = await world.pay(session_id)
    await world.fake.drain()
    intent_id = paid["session"]["payment_intent"]

    await world.control(f"payment_intents/{intent_id}/refund", {})
    await world.fake.drain()

    assert (await world.site.credits())["article_credits"] == 5
    reversals = [
        e
        for e in await world.service.store.list_ledger(site_id=world.site.site_id)
        if e.kind == "reversal"
    ]
    assert [e.delta for e in reversals] == [-10]


async def test_refund_events_out_of_order_reverse_nothing_twice(world: StripeWorld):
    intent_id = await world.intent("image_starter")
    await world.control(f"payment_intents/{intent_id}/succeed")
    await world.fake.drain()
    await world.faults(reverse_pairs=True)

    await world.control(f"payment_intents/{intent_id}/refund", {"amount": 150})
    await world.control(f"payment_intents/{intent_id}/refund", {})
    await world.fake.drain()

    assert (await world.site.credits())["image_credits"] == 10
    assert (await world.service.store.reconcile()).ok


async def test_dispute_reverses_the_whole_purchase_and_blocks_spending(world: StripeWorld):
    intent_id = await world.intent("image_starter")
    await world.control(f"payment_intents/{intent_id}/succeed")
    await world.fake.drain()
    spend = await world.site.post(
        "/users/deduct-credits", json={"user_id": 1, "credit_type": "image", "amount": 25}
    )
    assert spend.status_code == 200

    await world.control(f"payment_intents/{intent_id}/dispute")
    await world.fake.drain()
    after = await world.site.credits()
    blocked = await world.site.post(
        "/users/deduct-credits", json={"user_id": 1, "credit_type": "image", "amount": 1}
    )

    assert after["image_credits"] == 10 + 20 - 25 - 20
    assert (blocked.status_code, blocked.json()["error"]) == (402, "insufficient_credits")


async def test_expired_event_marks_the_session_expired(world: StripeWorld):
    session_id = await world.checkout()
    await world.control(f"checkout/sessions/{session_id}/complete", {"outcome": "expired"})
    await world.fake.drain()
    record = await world.service.store.get_checkout_session(session_id)
    assert record.status == "expired"


async def test_a_direct_payment_refunded_before_its_grant_is_granted_then_reversed(
    world: StripeWorld,
):
    intent_id = await world.intent("image_starter")
    await world.faults(drop=1, event_type="payment_intent.succeeded")
    await world.control(f"payment_intents/{intent_id}/succeed")
    await world.fake.drain()

    await world.control(f"payment_intents/{intent_id}/refund", {})
    await world.fake.drain()
    confirm = await world.confirm(intent_id)

    assert (await world.site.credits())["image_credits"] == 10
    assert confirm.json()["status"] == "already_completed"
    assert len(await world.purchases("intent:")) == 1


async def test_a_refund_of_a_foreign_payment_is_ignored(world: StripeWorld):
    event = {
        "id": "evt_foreign_refund",
        "object": "event",
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": "ch_x",
                "object": "charge",
                "payment_intent": "pi_other",
                "amount": 1000,
                "amount_refunded": 1000,
                "metadata": {},
            }
        },
    }
    response = await post_event(world, event, signed(json.dumps(event).encode()))
    assert (response.status_code, response.json()["outcome"]) == (200, "ignored")


async def test_admin_stats_revenue_is_net_of_refunds_and_disputes(world: StripeWorld):
    intents = [await world.intent("image_starter") for _ in range(3)]  # 300 JPY each
    for intent_id in intents:
        await world.control(f"payment_intents/{intent_id}/succeed")
    await world.fake.drain()
    kept, refunded, disputed = intents

    await world.control(f"payment_intents/{refunded}/refund", {"amount": 100})
    await world.control(f"payment_intents/{disputed}/dispute")
    await world.fake.drain()
    response = await world.http.get(
        f"{world.service.url}/api/v1/admin/stats", headers=world.service.admin_headers()
    )

    assert response.status_code == 200, response.text
    # 100 JPY refunded exactly (6 of 20 credits would have said 90), the dispute took all 300.
    assert response.json()["revenue"] == {"JPY": 900 - 100 - 300}


async def test_a_dispute_before_the_grant_reverses_the_purchase_the_verify_then_grants(
    world: StripeWorld,
):
    session_id = await world.checkout()
    await world.faults(drop=1, event_type=SESSION_COMPLETED)
    paid = await world.pay(session_id)
    await world.fake.drain()

    await world.control(f"payment_intents/{paid['session']['payment_intent']}/dispute")
    await world.fake.drain()
    verify = await world.verify(session_id)

    assert verify.status_code == 200, verify.text
    assert verify.json()["status"] == "already_completed"
    assert (await world.site.credits())["article_credits"] == 5
    assert len(await world.purchases("checkout:")) == 1
    assert (await world.service.store.reconcile()).ok


async def test_a_dispute_naming_only_its_charge_is_resolved_through_stripe(world: StripeWorld):
    intent_id = await world.intent("image_starter")  # 20 credits for 300 JPY
    await world.control(f"payment_intents/{intent_id}/succeed")
    await world.fake.drain()
    charge = world.fake.store.get(
        "charge", world.fake.store.get("payment_intent", intent_id)["latest_charge"]
    )
    event = {
        "id": "evt_dispute_by_charge",
        "object": "event",
        "type": "charge.dispute.created",
        "data": {
            "object": {
                "id": "dp_by_charge",
                "object": "dispute",
                "amount": 300,
                "charge": charge["id"],
                "payment_intent": None,
                "metadata": {},
                "status": "needs_response",
            }
        },
    }

    response = await post_event(world, event, signed(json.dumps(event).encode()))

    assert (response.status_code, response.json()["outcome"]) == (200, "reversed")
    assert (await world.site.credits())["image_credits"] == 10


async def test_a_won_dispute_gives_the_credits_back_and_a_lost_one_keeps_them_reversed(
    world: StripeWorld,
):
    won, lost = [await world.intent("image_starter") for _ in range(2)]
    for intent_id in (won, lost):
        await world.control(f"payment_intents/{intent_id}/succeed")
    await world.fake.drain()
    disputes = {i: await world.control(f"payment_intents/{i}/dispute") for i in (won, lost)}
    await world.fake.drain()
    assert (await world.site.credits())["image_credits"] == 10

    await world.control(f"disputes/{disputes[won]['id']}/close", {"outcome": "won"})
    await world.control(f"disputes/{disputes[lost]['id']}/close", {"outcome": "lost"})
    await world.fake.drain()

    assert (await world.site.credits())["image_credits"] == 10 + 20
    entries = await world.service.store.list_ledger(site_id=world.site.site_id)
    assert sorted((e.kind, e.delta) for e in entries if e.parent_ref) == [
        ("restore", 20),
        ("reversal", -20),
        ("reversal", -20),
    ]
    assert (await world.service.store.reconcile()).ok


async def test_a_late_completed_event_completes_an_expired_session_so_its_refund_reverses(
    world: StripeWorld,
):
    session_id = await world.checkout()
    assert await world.service.store.transition_checkout_session(
        session_id, "pending", "expired", {}
    )
    paid = await world.pay(session_id)
    await world.fake.drain()
    record = await world.service.store.get_checkout_session(session_id)
    intent_id = paid["session"]["payment_intent"]

    await world.control(f"payment_intents/{intent_id}/refund", {})
    await world.fake.drain()

    assert (record.status, record.payment_intent_id) == ("completed", intent_id)
    assert record.completed_at is not None
    refunds = [d["status_code"] for d in world.fake.deliveries if d["type"] == "charge.refunded"]
    assert refunds == [200]
    assert (await world.site.credits())["article_credits"] == 5


async def test_a_refund_stripe_does_not_report_paid_yet_is_refused_and_left_unrecorded(
    world: StripeWorld,
):
    session_id = await world.checkout()
    assert await world.service.store.link_checkout_payment_intent(session_id, "pi_not_paid")
    event = {
        "id": "evt_refund_unpaid",
        "object": "event",
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": "ch_y",
                "object": "charge",
                "payment_intent": "pi_not_paid",
                "amount": 750,
                "amount_refunded": 750,
                "metadata": {},
            }
        },
    }

    response = await post_event(world, event, signed(json.dumps(event).encode()))

    assert (response.status_code, response.json()["error"]) == (409, "grant_pending")
    assert not await world.service.store.stripe_event_seen("evt_refund_unpaid")
    assert await world.purchases("checkout:") == []


async def test_a_dispute_of_a_foreign_payment_is_ignored(world: StripeWorld):
    event = {
        "id": "evt_foreign_dispute",
        "object": "event",
        "type": "charge.dispute.created",
        "data": {
            "object": {
                "id": "dp_x",
                "object": "dispute",
                "amount": 1000,
                "charge": "ch_x",
                "payment_intent": "pi_other",
                "metadata": {},
                "status": "needs_response",
            }
        },
    }
    response = await post_event(world, event, signed(json.dumps(event).encode()))
    assert (response.status_code, response.json()["outcome"]) == (200, "ignored")
