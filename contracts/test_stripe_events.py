"""The Stripe contract: recorded events of the pinned API version, really signed, and their
effect on balances, the ledger and checkout sessions.

The fixtures in fixtures/stripe_events/ are Stripe's payloads with the ids the test fills in
(`{{session_id}}`, `{{payment_intent_id}}`, `{{charge_id}}`, ...). The session or intent an
event names is created through the service's API first, as in production.
"""

from __future__ import annotations

import typing

import pytest
import stripe
from stripe._api_version import _ApiVersion

from tests.support.stripe import (
    WEBHOOK_SECRET,
    event_body,
    fixture_names,
    load_fixture,
    signature_header,
    v1_signature,
)

FREE = {"article_credits": 5, "image_credits": 10, "rewrite_credits": 3}

# Fields Stripe leaves out of an event's object unless expanded or on Connect accounts.
OMITTED = {
    "event": {"account", "context"},
    "checkout.session": {"line_items"},
    "charge": {"refunds", "level3"},
}
SDK_CLASSES = {
    "checkout.session": stripe.checkout.Session,
    "payment_intent": stripe.PaymentIntent,
    "charge": stripe.Charge,
    "dispute": stripe.Dispute,
    "event": stripe.Event,
}


def sdk_fields(cls: type) -> set[str]:
    """The attributes the SDK declares for a resource (what the API version returns)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        names |= {n for n in getattr(klass, "__annotations__", {}) if not n.startswith("_")}
    return names - {"OBJECT_NAME"}


# -- the fixtures themselves -------------------------------------------------------------------


@pytest.mark.parametrize("name", fixture_names())
def test_fixture_has_the_pinned_api_version_shape(name):
    event = load_fixture(name)
    obj = event["data"]["object"]

    assert event["api_version"] == _ApiVersion.CURRENT
    assert event["type"] in typing.get_args(stripe.Event.__annotations__["type"])
    for value, kind in ((event, "event"), (obj, obj["object"])):
        declared = sdk_fields(SDK_CLASSES[kind])
        assert set(value) <= declared, f"{kind}: unknown fields {set(value) - declared}"
        missing = declared - set(value) - OMITTED.get(kind, set())
        assert not missing, f"{kind}: fields the API returns are missing: {missing}"


def test_expected_fixtures_are_recorded():
    assert {load_fixture(n)["type"] for n in fixture_names()} >= {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    }


def test_signature_matches_the_stripe_sdk():
    body = event_body(load_fixture("checkout.session.completed"))
    header = signature_header(body, timestamp=1_795_680_000)

    t, v1 = (part.split("=", 1)[1] for part in header.split(","))
    assert v1 == stripe.WebhookSignature._compute_signature(f"{t}.{body.decode()}", WEBHOOK_SECRET)
    assert v1 == v1_signature(body, WEBHOOK_SECRET, int(t))
    assert stripe.WebhookSignature.verify_header(
        body, signature_header(body), WEBHOOK_SECRET, tolerance=300
    )
    parsed = stripe.Webhook.construct_event(body, signature_header(body), WEBHOOK_SECRET)
    assert parsed.data.object.object == "checkout.session"


# -- checkout ----------------------------------------------------------------------------------


async def test_checkout_session_completed_grants_once(stripe_world):
    session_id = await stripe_world.checkout("article_starter")
    ids = await stripe_world.pay_for_ids(session_id)
    completed = await stripe_world.event("checkout.session.completed", **ids)

    assert await stripe_world.send(completed) == "granted"
    assert await stripe_world.send(completed) == "duplicate"  # Stripe's retry, same id
    again = await stripe_world.event("checkout.session.completed", **ids)
    assert await stripe_world.send(again) == "already_granted"
    async_paid = await stripe_world.event("checkout.session.async_payment_succeeded", **ids)
    assert await stripe_world.send(async_paid) == "already_granted"

    [purchase] = await stripe_world.ledger("purchase")
    assert (purchase.source_ref, purchase.delta) == (f"checkout:{session_id}", 10)
    assert await stripe_world.credits() == {**FREE, "article_credits": 15}
    assert await stripe_world.session_status(session_id) == "completed"
    assert all([await stripe_world.event_recorded(e["id"]) for e in (completed, again)])


async def test_async_payment_succeeded_grants_after_an_unpaid_completion(stripe_world):
    session_id = await stripe_world.checkout("article_starter")
    unpaid = await stripe_world.event("checkout.session.completed.unpaid", session_id=session_id)

    assert await stripe_world.send(unpaid) == "awaiting_payment"  # konbini: paid later
    assert await stripe_world.ledger("purchase") == []
    assert await stripe_world.session_status(session_id) == "pending"

    succeeded = await stripe_world.event(
        "checkout.session.async_payment_succeeded",
        session_id=session_id,
        payment_intent_id=unpaid["data"]["object"]["payment_intent"],
    )
    assert await stripe_world.send(succeeded) == "granted"
    assert await stripe_world.credits() == {**FREE, "article_credits": 15}
    assert await stripe_world.session_status(session_id) == "completed"


async def test_async_payment_failed_grants_nothing(stripe_world):
    session_id = await stripe_world.checkout("article_starter")
    unpaid = await stripe_world.event("checkout.session.completed.unpaid", session_id=session_id)
    failed = await stripe_world.event(
        "checkout.session.async_payment_failed",
        session_id=session_id,
        payment_intent_id=unpaid["data"]["object"]["payment_intent"],
    )

    assert await stripe_world.send(unpaid) == "awaiting_payment"
    assert await stripe_world.send(failed) == "payment_failed"

    assert await stripe_world.ledger("purchase") == []
    assert await stripe_world.credits() == FREE


async def test_checkout_session_expired_expires_the_session(stripe_world):
    session_id = await stripe_world.checkout("article_starter")
    await stripe_world.control(f"checkout/sessions/{session_id}/complete", {"outcome": "expired"})
    expired = await stripe_world.event("checkout.session.expired", session_id=session_id)

    assert await stripe_world.send(expired) == "expired"

    assert await stripe_world.session_status(session_id) == "expired"
    verify = await stripe_world.site.post("/checkout/verify", json={"session_id": session_id})
    assert verify.status_code == 402 and verify.json()["error"] == "payment_not_completed"
    shown = await stripe_world.site.get(f"/checkout/sessions/{session_id}")
    assert shown.json()["status"] == "expired"
    assert await stripe_world.ledger("purchase") == []


async def test_completed_event_for_a_session_we_never_created_is_ignored(stripe_world):
    stranger = await stripe_world.event(
        "checkout.session.completed", session_id="cs_test_from_another_integration"
    )

    assert await stripe_world.send(stranger) == "ignored"
    assert await stripe_world.ledger("purchase") == []


# -- payment intents ---------------------------------------------------------------------------


async def test_payment_intent_succeeded_grants_once(stripe_world):
    intent_id = await stripe_world.intent("image_starter")
    ids = await stripe_world.succeed(intent_id)
    succeeded = await stripe_world.event("payment_intent.succeeded", **ids)

    assert await stripe_world.send(succeeded) == "granted"
    assert await stripe_world.send(succeeded) == "duplicate"

    confirm = await stripe_world.site.post(
        "/payments/confirm",
        json={"payment_intent_id": intent_id, "user_id": 1, "credit_type": "image"},
    )
    assert confirm.status_code == 200, confirm.text
    assert confirm.json()["status"] == "already_completed"
    assert confirm.json()["credits_added"] == 20
    [purchase] = await stripe_world.ledger("purchase")
    assert (purchase.source_ref, purchase.delta) == (f"intent:{intent_id}", 20)
    assert await stripe_world.credits() == {**FREE, "image_credits": 30}


async def test_payment_intent_payment_failed_grants_nothing(stripe_world):
    intent_id = await stripe_world.intent("image_starter")
    await stripe_world.control(f"payment_intents/{intent_id}/fail")
    failed = await stripe_world.event("payment_intent.payment_failed", payment_intent_id=intent_id)

    assert await stripe_world.send(failed) == "payment_failed"

    assert await stripe_world.ledger("purchase") == []
    assert await stripe_world.credits() == FREE


# -- money going back --------------------------------------------------------------------------


async def _granted_checkout(stripe_world) -> dict[str, str]:
    session_id = await stripe_world.checkout("article_starter")  # 10 credits for 750 JPY
    ids = await stripe_world.pay_for_ids(session_id)
    assert (
        await stripe_world.send(await stripe_world.event("checkout.session.completed", **ids))
        == "granted"
    )
    return ids


async def test_charge_refunded_reverses_the_refunded_share(stripe_world):
    ids = await _granted_checkout(stripe_world)
    partial = await stripe_world.event("charge.refunded.partial", **ids)  # 300 of 750
    full = await stripe_world.event("charge.refunded.full", **ids)

    assert await stripe_world.send(partial) == "reversed"
    assert (await stripe_world.credits())["article_credits"] == 15 - 4
    assert await stripe_world.send(full) == "reversed"
    assert await stripe_world.send(partial) == "duplicate"
    late_partial = await stripe_world.event("charge.refunded.partial", **ids)
    assert await stripe_world.send(late_partial) == "unchanged"  # older, smaller total

    reversals = await stripe_world.ledger("reversal")
    assert sorted(e.delta for e in reversals) == [-6, -4]
    assert all(e.parent_ref == f"checkout:{ids['session_id']}" for e in reversals)
    assert await stripe_world.credits() == FREE
    assert len(await stripe_world.ledger("purchase")) == 1


async def test_charge_dispute_created_reverses_the_whole_purchase(stripe_world):
    ids = await _granted_checkout(stripe_world)
    dispute = await stripe_world.event("charge.dispute.created", **ids)

    assert await stripe_world.send(dispute) == "reversed"
    assert (
        await stripe_world.send(await stripe_world.event("charge.dispute.created", **ids))
        == "unchanged"
    )

    [reversal] = await stripe_world.ledger("reversal")
    assert (reversal.delta, reversal.reason) == (-10, "dispute")
    assert await stripe_world.credits() == FREE


async def test_refund_before_the_grant_grants_then_reverses_it(stripe_world):
    session_id = await stripe_world.checkout("article_starter")
    ids = await stripe_world.pay_for_ids(session_id)
    refunded = await stripe_world.event("charge.refunded.full", **ids)

    assert await stripe_world.send(refunded) == "reversed"
    assert (
        await stripe_world.send(await stripe_world.event("checkout.session.completed", **ids))
        == "already_granted"
    )

    assert await stripe_world.credits() == FREE
    assert len(await stripe_world.ledger("purchase")) == 1
    assert await stripe_world.session_status(session_id) == "completed"


async def test_dispute_before_the_grant_is_applied_not_dropped(stripe_world):
    """The Dispute carries no metadata: it is ours by its payment intent, which Stripe's
    Checkout Session list resolves before the completed event ever arrived."""
    session_id = await stripe_world.checkout("article_starter")
    ids = await stripe_world.pay_for_ids(session_id)
    disputed = await stripe_world.event("charge.dispute.created", **ids)

    assert await stripe_world.send(disputed) == "reversed"
    assert (
        await stripe_world.send(await stripe_world.event("checkout.session.completed", **ids))
        == "already_granted"
    )

    assert await stripe_world.credits() == FREE
    [reversal] = await stripe_world.ledger("reversal")
    assert (reversal.delta, reversal.parent_ref) == (-10, f"checkout:{session_id}")


@pytest.mark.parametrize(
    "closing, credits, restores",
    [
        (["charge.dispute.funds_reinstated", "charge.dispute.closed.won"], 15, 1),
        (["charge.dispute.closed.won", "charge.dispute.funds_reinstated"], 15, 1),
        (["charge.dispute.closed.lost"], 5, 0),
    ],
)
async def test_a_closed_dispute_restores_when_won_and_keeps_the_reversal_when_lost(
    stripe_world, closing, credits, restores
):
    ids = await _granted_checkout(stripe_world)
    opened = [
        await stripe_world.event(n, **ids)
        for n in ("charge.dispute.created", "charge.dispute.funds_withdrawn")
    ]
    closed = [await stripe_world.event(n, **ids) for n in closing]

    outcomes = [await stripe_world.send(e) for e in [*opened, *closed]]
    late = await stripe_world.send(await stripe_world.event("charge.dispute.created", **ids))

    assert outcomes == [
        "reversed",
        "unchanged",
        *(["restored", "unchanged"][: len(closing)] if restores else ["unchanged"]),
    ]
    assert late == "unchanged", "a report of the open dispute never undoes its outcome"
    assert (await stripe_world.credits())["article_credits"] == credits
    assert len(await stripe_world.ledger("restore")) == restores
    assert (await stripe_world.store.reconcile()).ok


# -- what the service does not handle ----------------------------------------------------------


async def test_unhandled_event_type_is_acknowledged_and_ignored(stripe_world):
    intent_id = await stripe_world.intent("image_starter")
    created = await stripe_world.event("payment_intent.created", payment_intent_id=intent_id)

    assert await stripe_world.send(created) == "ignored"
    assert await stripe_world.send(created) == "duplicate"

    assert await stripe_world.ledger("purchase") == []
    assert await stripe_world.credits() == FREE
