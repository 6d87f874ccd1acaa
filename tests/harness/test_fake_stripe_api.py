"""The fake_stripe speaks Stripe's API well enough for the official SDK, unchanged."""

from __future__ import annotations

import pytest
import stripe

from harness.fake_stripe import FakeStripe

from .conftest import confirmed_intent, session_params


async def test_create_session_returns_stripe_shaped_session(
    stripe_client, fake_stripe: FakeStripe
) -> None:
    session = await stripe_client.v1.checkout.sessions.create_async(params=session_params())

    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert (session.amount_total, session.amount_subtotal, session.currency) == (3000, 3000, "jpy")
    assert (session.status, session.payment_status, session.payment_intent) == (
        "open",
        "unpaid",
        None,
    )
    assert session.url == f"{fake_stripe.url}/checkout/pay/{session.id}"
    assert session.metadata.to_dict() == {"user_id": "42", "package": "credits_100"}
    assert session.client_reference_id == "user-42"
    assert session.customer_email == "buyer@example.com"
    assert session.livemode is False
    assert isinstance(session.created, int) and session.expires_at > session.created


async def test_currency_is_lowercased_like_stripe(stripe_client) -> None:
    params = session_params()
    params["line_items"][0]["price_data"]["currency"] = "JPY"

    session = await stripe_client.v1.checkout.sessions.create_async(params=params)

    assert session.currency == "jpy"


async def test_retrieve_and_list_sessions_newest_first(stripe_client, open_session) -> None:
    second = await stripe_client.v1.checkout.sessions.create_async(params=session_params())

    retrieved = await stripe_client.v1.checkout.sessions.retrieve_async(open_session.id)
    listed = await stripe_client.v1.checkout.sessions.list_async(params={"limit": 1})

    assert retrieved.id == open_session.id
    assert [s.id for s in listed.data] == [second.id]
    assert listed.has_more is True
    assert listed.url == "/v1/checkout/sessions"
    rest = await stripe_client.v1.checkout.sessions.list_async(params={"starting_after": second.id})
    assert [s.id for s in rest.data] == [open_session.id]
    assert rest.has_more is False


async def test_line_items_can_be_listed_and_expanded(stripe_client, open_session) -> None:
    items = await stripe_client.v1.checkout.sessions.line_items.list_async(open_session.id)
    expanded = await stripe_client.v1.checkout.sessions.retrieve_async(
        open_session.id, params={"expand": ["line_items"]}
    )

    assert [(i.description, i.quantity, i.amount_total) for i in items.data] == [
        ("100 article credits", 2, 3000)
    ]
    assert expanded.line_items.data[0].price.unit_amount == 1500


async def test_expire_session(stripe_client, open_session) -> None:
    expired = await stripe_client.v1.checkout.sessions.expire_async(open_session.id)

    assert expired.status == "expired"
    with pytest.raises(stripe.InvalidRequestError):
        await stripe_client.v1.checkout.sessions.expire_async(open_session.id)
    events = await stripe_client.v1.events.list_async(params={"type": "checkout.session.expired"})
    assert [e.data.object.id for e in events.data] == [open_session.id]


async def test_session_without_line_items_is_a_400(stripe_client) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await stripe_client.v1.checkout.sessions.create_async(params=session_params(line_items=[]))

    assert raised.value.http_status == 400
    assert raised.value.param == "line_items"


async def test_unknown_parameter_is_rejected_like_stripe(stripe_client) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter: colour"):
        await stripe_client.v1.checkout.sessions.create_async(params=session_params(colour="red"))


async def test_payment_intent_lifecycle(stripe_client) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        params={"amount": 1500, "currency": "jpy", "metadata": {"user_id": "42"}}
    )
    assert intent.id.startswith("pi_")
    assert intent.status == "requires_payment_method"
    assert intent.client_secret.startswith(f"{intent.id}_secret_")

    confirmed = await stripe_client.v1.payment_intents.confirm_async(
        intent.id, params={"payment_method": "pm_card_visa"}
    )
    assert (confirmed.status, confirmed.amount_received) == ("succeeded", 1500)
    assert confirmed.latest_charge.startswith("ch_")

    retrieved = await stripe_client.v1.payment_intents.retrieve_async(
        intent.id, params={"expand": ["latest_charge"]}
    )
    assert retrieved.latest_charge.metadata.to_dict() == {"user_id": "42"}
    listed = await stripe_client.v1.payment_intents.list_async()
    assert [i.id for i in listed.data] == [intent.id]
    events = await stripe_client.v1.events.list_async()
    assert [e.type for e in events.data] == [
        "charge.succeeded",
        "payment_intent.succeeded",
        "payment_intent.created",
    ]


async def test_declined_card_raises_card_error_and_records_failure(stripe_client) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        params={"amount": 500, "currency": "usd", "payment_method": "pm_card_chargeDeclined"}
    )

    with pytest.raises(stripe.CardError) as raised:
        await stripe_client.v1.payment_intents.confirm_async(intent.id)

    assert raised.value.http_status == 402
    assert raised.value.code == "card_declined"
    assert raised.value.error.decline_code == "generic_decline"
    after = await stripe_client.v1.payment_intents.retrieve_async(intent.id)
    assert after.status == "requires_payment_method"
    assert after.last_payment_error.decline_code == "generic_decline"
    events = await stripe_client.v1.events.list_async()
    # As on Stripe, the declined attempt is a failed charge too.
    assert [e.type for e in events.data] == [
        "charge.failed",
        "payment_intent.payment_failed",
        "payment_intent.created",
    ]
    assert after.latest_charge == events.data[0].data.object.id


async def test_create_with_confirm_true_succeeds_at_once(stripe_client) -> None:
    intent = await confirmed_intent(
        stripe_client,
        "pm_card_visa",
        2000,
        automatic_payment_methods={"enabled": True, "allow_redirects": "never"},
    )

    assert intent.status == "succeeded"


async def test_cancel_intent_and_not_twice(stripe_client) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        params={"amount": 900, "currency": "jpy"}
    )

    canceled = await stripe_client.v1.payment_intents.cancel_async(intent.id)

    assert canceled.status == "canceled"
    with pytest.raises(stripe.InvalidRequestError, match="status of canceled"):
        await stripe_client.v1.payment_intents.cancel_async(intent.id)


async def _paid_intent(stripe_client, amount: int = 3000) -> stripe.PaymentIntent:
    return await confirmed_intent(
        stripe_client, "pm_card_visa", amount, "jpy", metadata={"user_id": "42"}
    )


async def test_partial_then_full_refund_updates_the_charge(stripe_client) -> None:
    intent = await _paid_intent(stripe_client)

    first = await stripe_client.v1.refunds.create_async(
        params={"payment_intent": intent.id, "amount": 1000}
    )
    rest = await stripe_client.v1.refunds.create_async(params={"charge": intent.latest_charge})

    assert first.id.startswith("re_") and (first.amount, rest.amount) == (1000, 2000)
    assert (await stripe_client.v1.refunds.retrieve_async(first.id)).payment_intent == intent.id
    charge = await stripe_client.v1.charges.retrieve_async(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (3000, True)
    refunded = await stripe_client.v1.events.list_async(params={"type": "charge.refunded"})
    snapshots = [e.data.object for e in reversed(refunded.data)]
    assert [(c.amount_refunded, c.refunded) for c in snapshots] == [(1000, False), (3000, True)]
    assert snapshots[0].payment_intent == intent.id
    assert snapshots[0].metadata.to_dict() == {"user_id": "42"}


async def test_refunding_more_than_remains_is_a_400(stripe_client) -> None:
    intent = await _paid_intent(stripe_client)
    await stripe_client.v1.refunds.create_async(
        params={"payment_intent": intent.id, "amount": 2500}
    )

    with pytest.raises(stripe.InvalidRequestError) as raised:
        await stripe_client.v1.refunds.create_async(
            params={"payment_intent": intent.id, "amount": 600}
        )

    assert raised.value.http_status == 400
    assert raised.value.code == "amount_too_large"


async def test_events_retrieve_and_shape(stripe_client) -> None:
    await _paid_intent(stripe_client)
    listed = await stripe_client.v1.events.list_async(params={"limit": 1})

    event = await stripe_client.v1.events.retrieve_async(listed.data[0].id)

    assert event.id.startswith("evt_")
    assert event.object == "event"
    assert event.api_version == stripe.api_version
    assert event.livemode is False
    assert event.type == "charge.succeeded"
    assert event.data.object.object == "charge"
    assert event.request.id.startswith("req_")
    assert event.request.idempotency_key


async def test_webhook_endpoints_create_list_delete(stripe_client) -> None:
    created = await stripe_client.v1.webhook_endpoints.create_async(
        params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["checkout.session.completed"]}
    )

    assert created.id.startswith("we_")
    assert created.secret.startswith("whsec_")
    listed = await stripe_client.v1.webhook_endpoints.list_async()
    assert [e.id for e in listed.data] == [created.id]
    assert listed.data[0].enabled_events == ["checkout.session.completed"]
    retrieved = await stripe_client.v1.webhook_endpoints.retrieve_async(created.id)
    assert retrieved.url == "http://127.0.0.1:9/hook"
    deleted = await stripe_client.v1.webhook_endpoints.delete_async(created.id)
    assert deleted.deleted is True
    assert (await stripe_client.v1.webhook_endpoints.list_async()).data == []


async def test_idempotency_key_replays_the_first_response(
    stripe_client, fake_stripe: FakeStripe
) -> None:
    options = {"idempotency_key": "order-42"}
    first = await stripe_client.v1.checkout.sessions.create_async(
        params=session_params(), options=options
    )
    again = await stripe_client.v1.checkout.sessions.create_async(
        params=session_params(), options=options
    )

    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len((await stripe_client.v1.checkout.sessions.list_async()).data) == 1
    with pytest.raises(stripe.IdempotencyError):
        await stripe_client.v1.checkout.sessions.create_async(
            params=session_params(client_reference_id="someone-else"), options=options
        )


async def test_wrong_api_key_is_an_authentication_error(fake_stripe: FakeStripe) -> None:
    http_client = stripe.HTTPXClient()
    wrong = stripe.StripeClient(
        "sk_test_wrong", base_addresses={"api": fake_stripe.url}, http_client=http_client
    )
    try:
        with pytest.raises(stripe.AuthenticationError) as raised:
            await wrong.v1.checkout.sessions.list_async()
    finally:
        await http_client.close_async()

    assert raised.value.http_status == 401


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.v1.checkout.sessions.retrieve_async("cs_test_missing"),
        lambda c: c.v1.payment_intents.retrieve_async("pi_missing"),
        lambda c: c.v1.refunds.retrieve_async("re_missing"),
        lambda c: c.v1.events.retrieve_async("evt_missing"),
        lambda c: c.v1.webhook_endpoints.delete_async("we_missing"),
    ],
)
async def test_unknown_id_is_resource_missing(stripe_client, call) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await call(stripe_client)

    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"


async def test_unknown_url_is_a_stripe_404(stripe_client) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="Unrecognized request URL"):
        await stripe_client.raw_request_async("get", "/v1/nonsense")
