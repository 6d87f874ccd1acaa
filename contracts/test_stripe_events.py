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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stripe._api_version import _ApiVersion

from service.flows.stripe_events import unfit_field
from tests.support.stripe import (
    STRIPE_KEY,
    WEBHOOK_SECRET,
    event_body,
    fixture_names,
    load_fixture,
    new_event_id,
    signature_header,
    v1_signature,
)

FREE = {"article_credits": 5, "image_credits": 10, "rewrite_credits": 3}

# Fields Stripe leaves out of an event's object unless expanded or on Connect accounts.
OMITTED = {
    "event": {"account", "context"},
    "checkout.session": {"line_items"},
    "charge": {"refunds", "level3"},
    # A card refund's: the others are for payment methods without native refunds (Konbini, ...).
    "refund": {
        "customer",
        "customer_account",
        "description",
        "instructions_email",
        "next_action",
        "payment_method",
        "pending_reason",
        "presentment_details",
    },
}
SDK_CLASSES = {
    "checkout.session": stripe.checkout.Session,
    "payment_intent": stripe.PaymentIntent,
    "charge": stripe.Charge,
    "dispute": stripe.Dispute,
    "refund": stripe.Refund,
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


@pytest.mark.parametrize("name", fixture_names())
def test_every_recorded_event_carries_what_its_handling_reads(name):
    event = load_fixture(name)
    assert unfit_field(event["type"], event["data"]["object"]) is None


def test_expected_fixtures_are_recorded():
    assert {load_fixture(n)["type"] for n in fixture_names()} >= {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "charge.refunded",
        "charge.refund.updated",
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


async def test_checkout_session_completed_grants_once(world):
    session_id = await world.checkout("article_starter")
    ids = await world.pay_for_ids(session_id)
    completed = await world.event("checkout.session.completed", **ids)

    assert await world.send(completed) == "granted"
    assert await world.send(completed) == "duplicate"  # Stripe's retry, same id
    again = await world.event("checkout.session.completed", **ids)
    assert await world.send(again) == "already_granted"
    async_paid = await world.event("checkout.session.async_payment_succeeded", **ids)
    assert await world.send(async_paid) == "already_granted"

    [purchase] = await world.ledger("purchase")
    assert (purchase.source_ref, purchase.delta) == (f"checkout:{session_id}", 10)
    assert await world.credits() == {**FREE, "article_credits": 15}
    assert await world.session_status(session_id) == "completed"
    assert all([await world.event_recorded(e["id"]) for e in (completed, again)])


async def test_async_payment_succeeded_grants_after_an_unpaid_completion(world):
    session_id = await world.checkout("article_starter")
    unpaid = await world.event("checkout.session.completed.unpaid", session_id=session_id)

    assert await world.send(unpaid) == "awaiting_payment"  # konbini: paid later
    assert await world.ledger("purchase") == []
    assert await world.session_status(session_id) == "pending"

    succeeded = await world.event(
        "checkout.session.async_payment_succeeded",
        session_id=session_id,
        payment_intent_id=unpaid["data"]["object"]["payment_intent"],
    )
    assert await world.send(succeeded) == "granted"
    assert await world.credits() == {**FREE, "article_credits": 15}
    assert await world.session_status(session_id) == "completed"


async def test_async_payment_failed_grants_nothing(world):
    session_id = await world.checkout("article_starter")
    unpaid = await world.event("checkout.session.completed.unpaid", session_id=session_id)
    failed = await world.event(
        "checkout.session.async_payment_failed",
        session_id=session_id,
        payment_intent_id=unpaid["data"]["object"]["payment_intent"],
    )

    assert await world.send(unpaid) == "awaiting_payment"
    assert await world.send(failed) == "payment_failed"

    assert await world.ledger("purchase") == []
    assert await world.credits() == FREE
    assert await world.session_status(session_id) == "failed"  # closed, never to be granted


async def test_checkout_session_expired_expires_the_session(world):
    session_id = await world.checkout("article_starter")
    await world.control(f"checkout/sessions/{session_id}/complete", {"outcome": "expired"})
    expired = await world.event("checkout.session.expired", session_id=session_id)

    assert await world.send(expired) == "expired"

    assert await world.session_status(session_id) == "expired"
    verify = await world.site.post("/checkout/verify", json={"session_id": session_id})
    assert verify.status_code == 402 and verify.json()["error"] == "payment_not_completed"
    shown = await world.site.get(f"/checkout/sessions/{session_id}")
    assert shown.json()["status"] == "expired"
    assert await world.ledger("purchase") == []


async def test_completed_event_for_a_session_we_never_created_is_ignored(world):
    stranger = await world.event(
        "checkout.session.completed", session_id="cs_test_from_another_integration"
    )

    assert await world.send(stranger) == "ignored"
    assert await world.ledger("purchase") == []


# -- payment intents ---------------------------------------------------------------------------


async def test_payment_intent_succeeded_grants_once(world):
    intent_id = await world.intent("image_starter")
    ids = await world.succeed(intent_id)
    succeeded = await world.event("payment_intent.succeeded", **ids)

    assert await world.send(succeeded) == "granted"
    assert await world.send(succeeded) == "duplicate"

    confirm = await world.site.post(
        "/payments/confirm",
        json={"payment_intent_id": intent_id, "user_id": 1, "credit_type": "image"},
    )
    assert confirm.status_code == 200, confirm.text
    assert confirm.json()["status"] == "already_completed"
    assert confirm.json()["credits_added"] == 20
    [purchase] = await world.ledger("purchase")
    assert (purchase.source_ref, purchase.delta) == (f"intent:{intent_id}", 20)
    assert await world.credits() == {**FREE, "image_credits": 30}


async def test_payment_intent_payment_failed_grants_nothing(world):
    intent_id = await world.intent("image_starter")
    await world.control(f"payment_intents/{intent_id}/fail")
    failed = await world.event("payment_intent.payment_failed", payment_intent_id=intent_id)

    assert await world.send(failed) == "payment_failed"

    assert await world.ledger("purchase") == []
    assert await world.credits() == FREE


# -- money going back --------------------------------------------------------------------------

# How the plugin buys: the package, its price in JPY, its credits, and the event that pays.
PURCHASES = {
    "checkout": ("article_starter", 750, 10, "checkout.session.completed"),
    "intent": ("image_starter", 300, 20, "payment_intent.succeeded"),
}


async def _paid(world, kind: str) -> dict[str, str]:
    """A purchase paid at the fake Stripe, its paid event not yet sent; answers its ids."""
    package_id = PURCHASES[kind][0]
    if kind == "checkout":
        return await world.pay_for_ids(await world.checkout(package_id))
    return await world.succeed(await world.intent(package_id))


async def _granted(world, kind: str = "checkout") -> dict[str, str]:
    ids = await _paid(world, kind)
    paid_event = PURCHASES[kind][3]
    assert await world.send(await world.event(paid_event, **ids)) == "granted"
    return ids


def _source_ref(kind: str, ids: dict[str, str]) -> str:
    if kind == "checkout":
        return f"checkout:{ids['session_id']}"
    return f"intent:{ids['payment_intent_id']}"


async def _charge_refunded(world, kind: str, ids: dict[str, str], refunded: int) -> dict:
    """The recorded charge.refunded for this purchase, `refunded` JPY refunded in total."""
    price = PURCHASES[kind][1]
    name = "charge.refunded.full" if refunded == price else "charge.refunded.partial"
    event = await world.event(name, **ids)
    charge = event["data"]["object"]
    charge.update(
        amount=price, amount_captured=price, amount_refunded=refunded, refunded=refunded == price
    )
    return event


REFUNDS = {
    # purchase, the refunded total of each event in turn, the reversal each one makes
    "checkout, 300 then all of 750 JPY": ("checkout", [300, 750], [-4, -6]),
    "intent, half then all of 300 JPY": ("intent", [150, 300], [-10, -10]),
    "checkout, all at once": ("checkout", [750], [-10]),
}


@pytest.mark.parametrize(("kind", "totals", "deltas"), REFUNDS.values(), ids=list(REFUNDS))
async def test_charge_refunded_reverses_the_refunded_share(world, kind, totals, deltas):
    package_id, _, credits, _ = PURCHASES[kind]
    balance = f"{(await world.store.get_package(package_id)).credit_type}_credits"
    ids = await _granted(world, kind)
    refunds = [await _charge_refunded(world, kind, ids, total) for total in totals]

    assert await world.send(refunds[0]) == "reversed"
    assert (await world.credits())[balance] == FREE[balance] + credits + deltas[0]
    assert [await world.send(refund) for refund in refunds[1:]] == ["reversed"] * (len(totals) - 1)
    if len(refunds) > 1:
        assert await world.send(refunds[0]) == "duplicate"
        late_partial = await _charge_refunded(world, kind, ids, totals[0])
        assert await world.send(late_partial) == "unchanged"  # older, smaller total

    reversals = await world.ledger("reversal")
    assert sorted(e.delta for e in reversals) == sorted(deltas)
    assert all(e.parent_ref == _source_ref(kind, ids) for e in reversals)
    assert await world.credits() == FREE
    assert len(await world.ledger("purchase")) == 1
    assert (await world.store.reconcile()).ok


async def _refund_at_the_fake(world, ids: dict[str, str], amount: int) -> str:
    """Refund `amount` of the purchase at the fake Stripe (its events are not delivered)."""
    response = await world.http.post(
        f"{world.fake.url}/v1/refunds",
        data={"payment_intent": ids["payment_intent_id"], "amount": str(amount)},
        headers={"Authorization": f"Bearer {STRIPE_KEY}"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def test_a_failed_refund_gives_back_the_credits_it_took(world):
    ids = await _granted(world)  # 750 JPY for 10 article credits
    refund_id = await _refund_at_the_fake(world, ids, 300)
    refunded = await _charge_refunded(world, "checkout", ids, 300)
    assert await world.send(refunded) == "reversed"
    assert (await world.credits())["article_credits"] == 5 + 10 - 4

    await world.control(f"refunds/{refund_id}/fail")  # Stripe's charge: 0 refunded again
    failed = await world.event("charge.refund.updated.failed", refund_id=refund_id, **ids)
    assert await world.send(failed) == "restored"
    # A late redelivery of the refund's own report is older than the failure.
    assert await world.send(await _charge_refunded(world, "checkout", ids, 300)) == "unchanged"

    [reversal] = await world.ledger("reversal")
    [restore] = await world.ledger("restore")
    assert (reversal.delta, restore.delta, restore.reason) == (-4, 4, "refund_failed")
    assert await world.credits() == {**FREE, "article_credits": 5 + 10}
    assert (await world.store.reconcile()).ok


async def test_a_refund_after_a_failed_one_is_taken_back_again(world):
    ids = await _granted(world)
    first = await _refund_at_the_fake(world, ids, 300)
    assert await world.send(await _charge_refunded(world, "checkout", ids, 300)) == "reversed"
    await world.control(f"refunds/{first}/fail")
    failed = await world.event("charge.refund.updated.failed", refund_id=first, **ids)
    assert await world.send(failed) == "restored"

    await _refund_at_the_fake(world, ids, 750)
    again = await _charge_refunded(world, "checkout", ids, 750)
    again["created"] = failed["created"] + 60
    assert await world.send(again) == "reversed"

    assert await world.credits() == FREE
    assert (await world.store.reconcile()).ok


async def _fake_charge(world, ids: dict[str, str]) -> dict:
    response = await world.http.get(
        f"{world.fake.url}/v1/charges/{ids['charge_id']}",
        headers={"Authorization": f"Bearer {STRIPE_KEY}"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_refunds_and_failed_refunds_in_any_order_take_back_the_final_refunded_share(
    world, data
):
    """Refunds and refund failures at Stripe, some in the same second, their events delivered
    in any order: the credits taken back are those of the charge's final refunded amount."""
    ids = await _granted(world)  # 750 JPY for 10 article credits
    granted = (await world.credits())["article_credits"]  # the world outlives one example
    events, live, created = [], [], 1795690000
    for _ in range(data.draw(st.integers(1, 5), label="operations")):
        created += data.draw(st.integers(0, 1), label="seconds later")
        refunded = (await _fake_charge(world, ids))["amount_refunded"]
        if live and data.draw(st.booleans(), label="fail a refund"):
            refund_id = live.pop(data.draw(st.integers(0, len(live) - 1), label="which"))
            await world.control(f"refunds/{refund_id}/fail")
            event = await world.event("charge.refund.updated.failed", refund_id=refund_id, **ids)
        elif refunded < 750:
            amount = data.draw(st.integers(1, 750 - refunded), label="refund")
            live.append(await _refund_at_the_fake(world, ids, amount))
            event = await _charge_refunded(world, "checkout", ids, refunded + amount)
            event["data"]["object"]["refunded"] = refunded + amount == 750
        else:
            continue
        event["created"] = created
        events.append(event)

    for event in data.draw(st.permutations(events), label="delivery order"):
        await world.send(event)

    final = (await _fake_charge(world, ids))["amount_refunded"]
    assert (await world.credits())["article_credits"] == granted - 10 * final // 750
    assert (await world.store.reconcile()).ok


async def test_a_refund_update_that_is_not_a_failure_changes_nothing(world):
    ids = await _granted(world)
    refund_id = await _refund_at_the_fake(world, ids, 300)
    updated = await world.event("charge.refund.updated.failed", refund_id=refund_id, **ids)
    updated["data"]["object"]["status"] = "succeeded"

    assert await world.send(updated) == "ignored"
    assert await world.ledger("reversal") == []
    assert await world.credits() == {**FREE, "article_credits": 5 + 10}


async def test_charge_dispute_created_reverses_the_whole_purchase_and_blocks_spending(world):
    ids = await _granted(world)  # 5 + 10 article credits
    spent = await world.site.post(
        "/users/deduct-credits", json={"user_id": 1, "credit_type": "article", "amount": 12}
    )
    assert spent.status_code == 200, spent.text
    dispute = await world.event("charge.dispute.created", **ids)

    assert await world.send(dispute) == "reversed"
    assert await world.send(await world.event("charge.dispute.created", **ids)) == "unchanged"
    blocked = await world.site.post(
        "/users/deduct-credits", json={"user_id": 1, "credit_type": "article", "amount": 1}
    )

    [reversal] = await world.ledger("reversal")
    assert (reversal.delta, reversal.reason) == (-10, "dispute")
    assert await world.credits() == {**FREE, "article_credits": 5 + 10 - 12 - 10}
    assert (blocked.status_code, blocked.json()["error"]) == (402, "insufficient_credits")


@pytest.mark.parametrize("kind", ["checkout", "intent"])
async def test_refund_before_the_grant_grants_then_reverses_it(world, kind):
    ids = await _paid(world, kind)
    refunded = await _charge_refunded(world, kind, ids, PURCHASES[kind][1])

    assert await world.send(refunded) == "reversed"
    paid = await world.event(PURCHASES[kind][3], **ids)
    assert await world.send(paid) == "already_granted"
    if kind == "checkout":
        answer = await world.verify(ids["session_id"])
    else:
        answer = await world.confirm(ids["payment_intent_id"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "already_completed"

    assert await world.credits() == FREE
    [purchase] = await world.ledger("purchase")
    assert purchase.source_ref == _source_ref(kind, ids)
    if kind == "checkout":
        assert await world.session_status(ids["session_id"]) == "completed"


async def test_dispute_before_the_grant_is_applied_not_dropped(world):
    """The Dispute carries no metadata: it is ours by its payment intent, which Stripe's
    Checkout Session list resolves before the completed event ever arrived."""
    session_id = await world.checkout("article_starter")
    ids = await world.pay_for_ids(session_id)
    disputed = await world.event("charge.dispute.created", **ids)

    assert await world.send(disputed) == "reversed"
    verify = await world.verify(session_id)
    assert verify.status_code == 200, verify.text
    assert verify.json()["status"] == "already_completed"
    completed = await world.event("checkout.session.completed", **ids)
    assert await world.send(completed) == "already_granted"

    assert await world.credits() == FREE
    [reversal] = await world.ledger("reversal")
    assert (reversal.delta, reversal.parent_ref) == (-10, f"checkout:{session_id}")
    assert len(await world.ledger("purchase")) == 1
    assert (await world.store.reconcile()).ok


@pytest.mark.parametrize(
    "closing, credits, restores",
    [
        (["charge.dispute.funds_reinstated", "charge.dispute.closed.won"], 15, 1),
        (["charge.dispute.closed.won", "charge.dispute.funds_reinstated"], 15, 1),
        (["charge.dispute.closed.lost"], 5, 0),
    ],
)
async def test_a_closed_dispute_restores_when_won_and_keeps_the_reversal_when_lost(
    world, closing, credits, restores
):
    ids = await _granted(world)
    opened = [
        await world.event(n, **ids)
        for n in ("charge.dispute.created", "charge.dispute.funds_withdrawn")
    ]
    closed = [await world.event(n, **ids) for n in closing]

    outcomes = [await world.send(e) for e in [*opened, *closed]]
    late = await world.send(await world.event("charge.dispute.created", **ids))

    assert outcomes == [
        "reversed",
        "unchanged",
        *(["restored", "unchanged"][: len(closing)] if restores else ["unchanged"]),
    ]
    assert late == "unchanged", "a report of the open dispute never undoes its outcome"
    assert (await world.credits())["article_credits"] == credits
    assert len(await world.ledger("restore")) == restores
    entries = await world.ledger()
    assert sorted((e.kind, e.delta) for e in entries if e.parent_ref) == [
        *[("restore", 10)] * restores,
        ("reversal", -10),
    ]
    assert all(e.parent_ref == _source_ref("checkout", ids) for e in entries if e.parent_ref)
    assert (await world.store.reconcile()).ok


# -- what the service does not handle ----------------------------------------------------------


async def test_unhandled_event_type_is_acknowledged_and_ignored(world):
    intent_id = await world.intent("image_starter")
    created = await world.event("payment_intent.created", payment_intent_id=intent_id)
    customer = {
        **created,
        "id": new_event_id(),
        "type": "customer.created",
        "data": {"object": {"id": "cus_1", "object": "customer"}},
    }

    assert await world.send(created) == "ignored"
    assert await world.send(created) == "duplicate"
    assert await world.send(customer) == "ignored"  # a resource the service never reads

    assert await world.ledger("purchase") == []
    assert await world.credits() == FREE
