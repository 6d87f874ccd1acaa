"""Webhooks are signed like Stripe's, retried on failure, and faults do what they promise."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import stripe

from harness.console import stripe_delivery_lines
from harness.fake_stripe import FakeStripe

from .conftest import WebhookReceiver, stripe_signature

PAID_ORDER = ["checkout.session.completed", "payment_intent.succeeded", "charge.succeeded"]


async def pay(harness_http: httpx.AsyncClient, session_id: str) -> dict:
    answer = await harness_http.post(
        f"/_harness/checkout/sessions/{session_id}/complete", json={"outcome": "paid"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def set_faults(harness_http: httpx.AsyncClient, **faults: object) -> None:
    answer = await harness_http.post("/_harness/faults", json=faults)
    assert answer.status_code == 200, answer.text


async def pay_and_deliver(
    fake_stripe: FakeStripe, harness_http: httpx.AsyncClient, session_id: str, **faults: object
) -> None:
    """Pay the session with `faults` set for its events, and wait until they are delivered."""
    if faults:
        await set_faults(harness_http, **faults)
    await pay(harness_http, session_id)
    await fake_stripe.drain()


def verified(received, secret: str, tolerance: int = 300) -> list[stripe.Event]:
    return [
        stripe.Webhook.construct_event(r.body, stripe_signature(r), secret, tolerance)
        for r in received
    ]


def types(receiver: WebhookReceiver) -> list[str]:
    return [json.loads(r.body)["type"] for r in receiver.received]


async def test_every_event_is_signed_and_verifies(
    fake_stripe: FakeStripe, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    await pay_and_deliver(fake_stripe, harness_http, open_session.id)

    events = verified(webhook_receiver.received, webhook_endpoint["secret"])

    assert [e.type for e in events] == PAID_ORDER
    session, intent, charge = (e.data.object for e in events)
    assert (session.id, session.status, session.payment_status) == (
        open_session.id,
        "complete",
        "paid",
    )
    assert session.payment_intent == intent.id
    assert intent.metadata.to_dict() == {"user_id": "42", "package": "credits_100"}
    assert (charge.payment_intent, charge.amount) == (intent.id, 3000)
    assert all(
        r.headers["Content-Type"].startswith("application/json") for r in webhook_receiver.received
    )
    assert [(d["status_code"], d["attempt"], d["fault"]) for d in fake_stripe.deliveries] == [
        (200, 1, None)
    ] * 3


async def test_delivered_events_are_settled(
    fake_stripe, stripe_client, harness_http, webhook_endpoint, open_session
) -> None:
    await pay_and_deliver(fake_stripe, harness_http, open_session.id)

    events = await stripe_client.v1.events.list_async()

    assert [e.pending_webhooks for e in events.data] == [0, 0, 0]


async def test_enabled_events_filter_what_an_endpoint_receives(
    fake_stripe, stripe_client, harness_http, webhook_receiver, open_session
) -> None:
    created = await stripe_client.v1.webhook_endpoints.create_async(
        params={"url": webhook_receiver.url, "enabled_events": ["checkout.session.completed"]}
    )

    await pay_and_deliver(fake_stripe, harness_http, open_session.id)

    events = verified(webhook_receiver.received, created.secret)
    assert [e.type for e in events] == ["checkout.session.completed"]


async def test_duplicate_delivers_the_next_event_n_extra_times(
    fake_stripe, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    await pay_and_deliver(fake_stripe, harness_http, open_session.id, duplicate=2)

    assert types(webhook_receiver) == [PAID_ORDER[0]] * 3 + PAID_ORDER[1:]
    assert len(set(webhook_receiver.event_ids()[:3])) == 1
    verified(webhook_receiver.received, webhook_endpoint["secret"])
    assert [d["fault"] for d in fake_stripe.deliveries[:3]] == [None, "duplicate", "duplicate"]


async def test_reverse_pairs_swaps_the_next_two_events(
    fake_stripe, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    await pay_and_deliver(fake_stripe, harness_http, open_session.id, reverse_pairs=True)

    assert types(webhook_receiver) == [PAID_ORDER[1], PAID_ORDER[0], PAID_ORDER[2]]


async def test_drain_releases_an_event_held_for_a_partner(
    fake_stripe, stripe_client, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    await set_faults(harness_http, reverse_pairs=True)

    await stripe_client.v1.checkout.sessions.expire_async(open_session.id)
    await fake_stripe.drain()

    assert types(webhook_receiver) == ["checkout.session.expired"]


async def test_bad_signature_fails_verification(
    fake_stripe, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    await pay_and_deliver(fake_stripe, harness_http, open_session.id, bad_signature=True)

    first, *rest = webhook_receiver.received
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            first.body, stripe_signature(first), webhook_endpoint["secret"]
        )
    assert len(verified(rest, webhook_endpoint["secret"])) == 2
    assert fake_stripe.deliveries[0]["fault"] == "bad_signature"


async def test_stale_timestamp_is_rejected_within_tolerance(
    fake_stripe, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    await pay_and_deliver(fake_stripe, harness_http, open_session.id, stale_timestamp=True)

    first = webhook_receiver.received[0]
    with pytest.raises(stripe.SignatureVerificationError, match="outside the tolerance"):
        stripe.Webhook.construct_event(
            first.body, stripe_signature(first), webhook_endpoint["secret"], 300
        )
    assert verified([first], webhook_endpoint["secret"], tolerance=4000)  # signed right for old t


async def test_drop_skips_deliveries_but_records_them(
    fake_stripe, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    await pay_and_deliver(fake_stripe, harness_http, open_session.id, drop=1)

    assert types(webhook_receiver) == PAID_ORDER[1:]
    dropped = fake_stripe.deliveries[0]
    assert (dropped["type"], dropped["status_code"], dropped["fault"]) == (
        PAID_ORDER[0],
        None,
        "dropped",
    )


async def test_delay_lets_later_events_overtake(
    fake_stripe, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    before_payment = time.time()
    await pay_and_deliver(fake_stripe, harness_http, open_session.id, delay_ms=200)

    assert types(webhook_receiver) == [PAID_ORDER[1], PAID_ORDER[2], PAID_ORDER[0]]
    delayed = next(d for d in fake_stripe.deliveries if d["type"] == PAID_ORDER[0])
    assert delayed["fault"] == "delay_ms=200"
    # The delay runs from the event's publication, which follows `before_payment`; the other
    # deliveries may themselves take long on a loaded machine, so they are no reference.
    assert delayed["at"] - before_payment >= 0.2


async def test_event_type_aims_faults_at_one_kind_of_event(
    fake_stripe, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    await pay_and_deliver(
        fake_stripe, harness_http, open_session.id, drop=1, event_type="charge.succeeded"
    )

    assert types(webhook_receiver) == PAID_ORDER[:2]


async def test_faults_combine_and_delete_clears_them(harness_http) -> None:
    await set_faults(harness_http, duplicate=1)
    await set_faults(harness_http, bad_signature=True)

    combined = (await harness_http.get("/_harness/faults")).json()
    cleared = (await harness_http.delete("/_harness/faults")).json()

    assert (combined["duplicate"], combined["bad_signature"]) == (1, True)
    assert (cleared["duplicate"], cleared["bad_signature"]) == (0, False)
    assert (await harness_http.post("/_harness/faults", json={"typo": 1})).status_code == 400


async def test_failed_delivery_is_retried(
    fake_stripe, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    webhook_receiver.statuses = [500]

    await pay_and_deliver(fake_stripe, harness_http, open_session.id)

    attempts = [
        (d["status_code"], d["attempt"])
        for d in fake_stripe.deliveries
        if d["type"] == PAID_ORDER[0]
    ]
    assert attempts == [(500, 1), (200, 2)]
    assert len(verified(webhook_receiver.received, webhook_endpoint["secret"])) == 4


async def test_retries_stop_when_the_delays_run_out(
    fake_stripe, stripe_client, webhook_receiver, webhook_endpoint, open_session
) -> None:
    webhook_receiver.statuses = [503] * 10

    await stripe_client.v1.checkout.sessions.expire_async(open_session.id)
    await fake_stripe.drain()

    assert [(d["status_code"], d["attempt"]) for d in fake_stripe.deliveries] == [
        (503, 1),
        (503, 2),
        (503, 3),
    ]


async def test_connection_errors_are_retried_and_each_attempt_records_why(
    fake_stripe, stripe_client, open_session
) -> None:
    fake_stripe.add_webhook_endpoint("http://127.0.0.1:1/unreachable")

    await stripe_client.v1.checkout.sessions.expire_async(open_session.id)
    await fake_stripe.drain()

    assert [(d["status_code"], d["attempt"]) for d in fake_stripe.deliveries] == [
        (None, 1),
        (None, 2),
        (None, 3),
    ]
    [first, *_] = fake_stripe.deliveries
    assert first["error"].startswith("ClientConnectorError: "), first
    assert "127.0.0.1:1" in first["error"]
    [sent, answered] = stripe_delivery_lines(first)
    assert answered.endswith(
        f"[ERR] POST http://127.0.0.1:1/unreachable [{first['event_id']}] ({first['error']})"
    ), answered


async def test_an_answer_outside_2xx_is_its_own_reason(
    fake_stripe, stripe_client, webhook_receiver, webhook_endpoint, open_session
) -> None:
    webhook_receiver.statuses = [503]

    await stripe_client.v1.checkout.sessions.expire_async(open_session.id)
    await fake_stripe.drain()

    assert [(d["status_code"], d["error"]) for d in fake_stripe.deliveries] == [
        (503, "HTTP 503"),
        (200, None),
    ]
    assert stripe_delivery_lines(fake_stripe.deliveries[0])[1].endswith("]")  # [503] says it


async def test_drain_times_out_while_a_retry_is_pending(webhook_receiver) -> None:
    fake = FakeStripe(retry_delays=(30,))
    await fake.start()
    try:
        fake.add_webhook_endpoint(webhook_receiver.url)
        webhook_receiver.statuses = [500]
        async with httpx.AsyncClient(base_url=fake.url) as http:
            created = await http.post(
                "/v1/checkout/sessions",
                auth=(fake.secret_key, ""),
                data={
                    "mode": "payment",
                    "success_url": "https://shop.example/success",
                    "line_items[0][price_data][currency]": "jpy",
                    "line_items[0][price_data][unit_amount]": "100",
                    "line_items[0][price_data][product_data][name]": "x",
                    "line_items[0][quantity]": "1",
                },
            )
            await http.post(
                f"/v1/checkout/sessions/{created.json()['id']}/expire", auth=(fake.secret_key, "")
            )
            answer = await http.post("/_harness/drain", json={"timeout": 0.3})
        assert answer.status_code == 504
        assert answer.json()["idle"] is False
        with pytest.raises(TimeoutError):
            await fake.drain(timeout=0.1)
    finally:
        await fake.stop()


async def test_resend_delivers_a_stored_event_again(
    fake_stripe, stripe_client, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    await pay_and_deliver(fake_stripe, harness_http, open_session.id)
    completed = (
        await stripe_client.v1.events.list_async(params={"type": "checkout.session.completed"})
    ).data[0]

    answer = await harness_http.post(f"/_harness/events/{completed.id}/resend")
    await fake_stripe.drain()

    assert answer.status_code == 200
    assert webhook_receiver.event_ids().count(completed.id) == 2
    verified(webhook_receiver.received, webhook_endpoint["secret"])


async def test_refund_sends_charge_refunded_with_the_charge(
    fake_stripe, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    intent_id = (await pay(harness_http, open_session.id))["session"]["payment_intent"]

    answer = await harness_http.post(
        f"/_harness/payment_intents/{intent_id}/refund", json={"amount": 1000}
    )
    await fake_stripe.drain()

    assert answer.json()["amount"] == 1000
    event = verified(webhook_receiver.received, webhook_endpoint["secret"])[-1]
    assert event.type == "charge.refunded"
    charge = event.data.object
    assert (charge.object, charge.payment_intent, charge.amount, charge.amount_refunded) == (
        "charge",
        intent_id,
        3000,
        1000,
    )
    assert charge.metadata.to_dict() == {"user_id": "42", "package": "credits_100"}


async def test_dispute_sends_charge_dispute_created_and_funds_withdrawn(
    fake_stripe, stripe_client, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    intent_id = (await pay(harness_http, open_session.id))["session"]["payment_intent"]
    await harness_http.post(f"/_harness/payment_intents/{intent_id}/refund", json={"amount": 1000})

    answer = await harness_http.post(f"/_harness/payment_intents/{intent_id}/dispute")
    await fake_stripe.drain()

    events = verified(webhook_receiver.received, webhook_endpoint["secret"])[-2:]
    assert [e.type for e in events] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    ]
    dispute = events[0].data.object
    assert dispute.id == answer.json()["id"] and dispute.id.startswith("dp_")
    intent = await stripe_client.v1.payment_intents.retrieve_async(intent_id)
    assert (dispute.object, dispute.charge, dispute.payment_intent) == (
        "dispute",
        intent.latest_charge,
        intent_id,
    )
    assert (dispute.amount, dispute.currency, dispute.reason, dispute.status) == (
        2000,  # what the refund left
        "jpy",
        "fraudulent",
        "needs_response",
    )


async def test_closing_a_dispute_sends_what_stripe_sends_for_its_outcome(
    fake_stripe, stripe_client, harness_http, webhook_receiver, webhook_endpoint, open_session
) -> None:
    intent_id = (await pay(harness_http, open_session.id))["session"]["payment_intent"]
    opened = (await harness_http.post(f"/_harness/payment_intents/{intent_id}/dispute")).json()
    await fake_stripe.drain()
    before = len(webhook_receiver.received)

    won = await harness_http.post(
        f"/_harness/disputes/{opened['id']}/close", json={"outcome": "won"}
    )
    again = await harness_http.post(
        f"/_harness/disputes/{opened['id']}/close", json={"outcome": "lost"}
    )
    await fake_stripe.drain()

    events = verified(webhook_receiver.received, webhook_endpoint["secret"])[before:]
    assert [(e.type, e.data.object.status) for e in events] == [
        ("charge.dispute.funds_reinstated", "won"),
        ("charge.dispute.closed", "won"),
    ]
    assert won.json()["status"] == "won"
    assert again.status_code == 400
    listed = await stripe_client.v1.disputes.list_async(params={"payment_intent": intent_id})
    assert [(d.id, d.status) for d in listed.data] == [(opened["id"], "won")]
