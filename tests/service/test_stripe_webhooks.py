"""What the service does with Stripe's events beyond the contract: deliveries the fake Stripe
makes (faults, retries, order), events naming payments that are not ours or not paid yet,
and what refunds and disputes leave in the stats.

Each event type as Stripe sends it, and every `Stripe-Signature` vector, are the contract's:
`contracts/test_stripe_events.py` and `contracts/test_stripe_signatures.py`, on the same
`world` fixture.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.fake_stripe.resources import CHARGE, PAYMENT_INTENT
from service.domain.models import CheckoutSession
from tests.support.stripe import StripeWorld, event_body, signature_header

SESSION_COMPLETED = "checkout.session.completed"


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


async def test_webhooks_without_a_configured_secret_answer_not_configured(make_service):
    service = await make_service()
    response = await service.http.post(
        f"{service.url}/api/v1/webhooks/stripe",
        content=b"{}",
        headers={"Stripe-Signature": "t=1,v1=x"},
    )
    assert (response.status_code, response.json()["error"]) == (500, "payment_not_configured")


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


@pytest.mark.parametrize(
    "kind, thing",
    [
        (
            "charge.refunded",
            {"id": "ch_x", "object": "charge", "amount": 1000, "amount_refunded": 1000},
        ),
        (
            "charge.dispute.created",
            {
                "id": "dp_x",
                "object": "dispute",
                "amount": 1000,
                "charge": "ch_x",
                "status": "needs_response",
            },
        ),
    ],
    ids=["refund", "dispute"],
)
async def test_a_refund_or_dispute_of_a_foreign_payment_is_ignored(
    world: StripeWorld, kind: str, thing: dict
):
    event = {
        "id": f"evt_foreign_{thing['object']}",
        "object": "event",
        "type": kind,
        "data": {"object": {**thing, "payment_intent": "pi_other", "metadata": {}}},
    }
    assert await world.send(event) == "ignored"


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


async def test_a_dispute_naming_only_its_charge_is_resolved_through_stripe(world: StripeWorld):
    intent_id = await world.intent("image_starter")  # 20 credits for 300 JPY
    await world.control(f"payment_intents/{intent_id}/succeed")
    await world.fake.drain()
    charge = world.fake.state.get(
        CHARGE, world.fake.state.get(PAYMENT_INTENT, intent_id)["latest_charge"]
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

    assert await world.send(event) == "reversed"
    assert (await world.site.credits())["image_credits"] == 10


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

    response = await world.post(event_body(event), signature_header(event_body(event)))

    assert (response.status_code, response.json()["error"]) == (409, "grant_pending")
    assert not await world.service.store.stripe_event_seen("evt_refund_unpaid")
    assert await world.purchases("checkout:") == []


NOT_EVENTS = st.one_of(
    # Text that is not JSON (a body that is not UTF-8 fails the signature check first:
    # contracts/test_stripe_signatures.py).
    st.text(max_size=32).map(str.encode).filter(lambda raw: not _is_json(raw)),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=6,
    ).map(lambda value: json.dumps(value).encode()),
    # Almost an event: one of its required parts missing or of the wrong type.
    st.sampled_from(["id", "type", "data"]).flatmap(
        lambda part: st.sampled_from([None, 7, "", []]).map(
            lambda wrong: (
                json.dumps(
                    {
                        "id": "evt_almost",
                        "object": "event",
                        "type": SESSION_COMPLETED,
                        "data": {"object": {}},
                    }
                    | ({} if wrong is None else {part: wrong}),
                    default=str,
                ).encode()
                if wrong is not None
                else json.dumps(
                    {
                        k: v
                        for k, v in {
                            "id": "evt_almost",
                            "type": SESSION_COMPLETED,
                            "data": {"object": {}},
                        }.items()
                        if k != part
                    }
                ).encode()
            )
        )
    ),
)


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=NOT_EVENTS)
async def test_a_signed_body_that_is_not_an_event_answers_invalid_event_and_writes_nothing(
    world: StripeWorld, body: bytes
):
    before = await world.ledger()
    response = await world.post(body, signature_header(body))
    assert response.status_code == 400, response.text
    answer = response.json()
    assert (answer["success"], answer["error"]) == (False, "invalid_event"), answer
    assert answer["message"].startswith("The body is not a Stripe event: ")
    assert await world.ledger() == before
    assert not await world.service.store.stripe_event_seen("evt_almost")


# -- signed events whose fields the handling cannot use (issue 30, items 3, 4 and 6) ----------

REFUND, DISPUTE = "charge.refunded.partial", "charge.dispute.funds_withdrawn"
MALFORMED = [
    (REFUND, "amount", "abc"),
    (REFUND, "amount", {}),
    (REFUND, "amount", [1]),
    (REFUND, "amount", "1e3"),
    (REFUND, "amount", 750.0),
    (REFUND, "amount", True),
    (REFUND, "amount", 0),
    (REFUND, "amount_refunded", "300"),
    (REFUND, "amount_refunded", -300),
    (REFUND, "amount_refunded", 751),
    (REFUND, "payment_intent", 7),
    (DISPUTE, "amount", "x"),
    (DISPUTE, "amount", None),
    (DISPUTE, "status", {}),
    (DISPUTE, "id", None),
]


async def _granted_intent(world: StripeWorld) -> dict[str, str]:
    """A direct payment the fake Stripe reports succeeded, granted (20 image credits)."""
    ids = await world.succeed(await world.intent("image_starter"))
    await world.fake.drain()
    assert (await world.credits())["image_credits"] == 30
    return ids


async def _post_signed(world: StripeWorld, event: dict[str, Any]) -> httpx.Response:
    body = event_body(event)
    return await world.post(body, signature_header(body))


@pytest.mark.parametrize(("fixture", "field", "value"), MALFORMED)
async def test_a_signed_event_whose_fields_are_unfit_is_rejected_recorded_and_changes_nothing(
    world: StripeWorld, fixture: str, field: str, value: Any
):
    event = await world.event(fixture, **await _granted_intent(world))
    event["data"]["object"][field] = value
    before = await world.ledger()

    first = await _post_signed(world, event)
    again = await _post_signed(world, event)  # Stripe's redelivery

    assert first.status_code == 400, first.text
    assert first.json()["error"] == "invalid_event"
    assert f"data.object.{field}" in first.json()["message"]
    assert (again.status_code, again.json()) == (400, first.json())
    assert await world.store.stripe_event_outcome(event["id"]) == "rejected"
    assert await world.ledger() == before


@pytest.mark.parametrize("missing", ["amount", "amount_refunded"])
async def test_a_refund_without_its_amounts_takes_back_nothing(world: StripeWorld, missing: str):
    event = await world.event(REFUND, **await _granted_intent(world))
    del event["data"]["object"][missing]

    response = await _post_signed(world, event)

    assert (response.status_code, response.json()["error"]) == (400, "invalid_event")
    assert f"data.object.{missing} is missing" in response.json()["message"]
    assert (await world.credits())["image_credits"] == 30


async def test_a_refund_naming_only_a_charge_stripe_does_not_know_is_ignored(world: StripeWorld):
    event = await world.event(REFUND)
    event["data"]["object"].update(payment_intent=None, charge="ch_unknown_to_stripe")

    assert await world.send(event) == "ignored"
    assert await world.store.stripe_event_outcome(event["id"]) == "ignored"


async def test_a_refund_of_our_session_that_stripe_does_not_know_waits_as_grant_pending(
    world: StripeWorld,
):
    await world.store.create_checkout_session(
        CheckoutSession(
            session_id="cs_test_stripe_forgot",
            site_id=world.site.site_id,
            user_id="1",
            user_email=None,
            package_id="article_starter",
            credit_type="article",
            credits=10,
            amount=750,
            currency="JPY",
        )
    )
    await world.store.link_checkout_payment_intent("cs_test_stripe_forgot", "pi_stripe_forgot")
    event = await world.event(REFUND, payment_intent_id="pi_stripe_forgot")

    response = await _post_signed(world, event)

    assert (response.status_code, response.json()["error"]) == (409, "grant_pending")
    assert await world.store.stripe_event_outcome(event["id"]) is None
    assert await world.purchases("checkout:") == []
