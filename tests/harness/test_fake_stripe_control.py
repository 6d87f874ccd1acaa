"""The `/_harness/` control API drives outcomes the way a customer or Stripe would."""

from __future__ import annotations

import stripe

from harness.fake_stripe import FakeStripe


async def complete(harness_http, session_id: str, outcome: str):
    return await harness_http.post(
        f"/_harness/checkout/sessions/{session_id}/complete", json={"outcome": outcome}
    )


async def event_types(stripe_client) -> list[str]:
    return [e.type for e in reversed((await stripe_client.v1.events.list_async()).data)]


async def test_paid_completes_the_session_and_answers_the_success_redirect(
    harness_http, stripe_client, open_session
) -> None:
    answer = (await complete(harness_http, open_session.id, "paid")).json()

    assert answer["redirect_url"] == f"https://shop.example/success?session_id={open_session.id}"
    session = await stripe_client.v1.checkout.sessions.retrieve_async(open_session.id)
    assert (session.status, session.payment_status) == ("complete", "paid")
    intent = await stripe_client.v1.payment_intents.retrieve_async(session.payment_intent)
    assert (intent.status, intent.amount_received, intent.currency) == ("succeeded", 3000, "jpy")
    assert intent.metadata.to_dict() == {"user_id": "42", "package": "credits_100"}
    assert await event_types(stripe_client) == [
        "checkout.session.completed",
        "payment_intent.succeeded",
        "charge.succeeded",
    ]


async def test_declined_keeps_the_session_open_and_a_retry_can_pay(
    harness_http, stripe_client, open_session
) -> None:
    declined = (await complete(harness_http, open_session.id, "declined")).json()

    assert declined["session"]["status"] == "open"
    assert declined["session"]["payment_status"] == "unpaid"
    assert declined["redirect_url"] == open_session.url
    assert await event_types(stripe_client) == ["payment_intent.payment_failed", "charge.failed"]
    paid = (await complete(harness_http, open_session.id, "paid")).json()
    failed = (await stripe_client.v1.events.list_async()).data[-1].data.object
    assert paid["session"]["payment_intent"] == failed.id  # the same intent, tried again


async def test_canceled_changes_nothing_and_answers_the_cancel_url(
    harness_http, stripe_client, open_session
) -> None:
    answer = (await complete(harness_http, open_session.id, "canceled")).json()

    assert answer["redirect_url"] == "https://shop.example/cancel"
    assert answer["session"]["status"] == "open"
    assert await event_types(stripe_client) == []


async def test_expired_session_cannot_be_paid(harness_http, stripe_client, open_session) -> None:
    expired = (await complete(harness_http, open_session.id, "expired")).json()
    again = await complete(harness_http, open_session.id, "paid")

    assert expired["session"]["status"] == "expired"
    assert await event_types(stripe_client) == ["checkout.session.expired"]
    assert again.status_code == 400


async def test_completed_session_cannot_be_paid_twice(harness_http, open_session) -> None:
    await complete(harness_http, open_session.id, "paid")

    again = await complete(harness_http, open_session.id, "paid")

    assert again.status_code == 400
    assert "complete" in again.json()["error"]["message"]


async def test_bad_outcome_and_unknown_session(harness_http, open_session) -> None:
    assert (await complete(harness_http, open_session.id, "maybe")).status_code == 400
    assert (await complete(harness_http, "cs_test_nope", "paid")).status_code == 404


async def test_intents_can_be_made_to_succeed_or_fail(harness_http, stripe_client) -> None:
    ok = await stripe_client.v1.payment_intents.create_async(
        params={"amount": 700, "currency": "jpy"}
    )
    bad = await stripe_client.v1.payment_intents.create_async(
        params={"amount": 700, "currency": "jpy"}
    )

    succeeded = (await harness_http.post(f"/_harness/payment_intents/{ok.id}/succeed")).json()
    failed = (await harness_http.post(f"/_harness/payment_intents/{bad.id}/fail")).json()

    assert succeeded["status"] == "succeeded" and succeeded["latest_charge"].startswith("ch_")
    assert failed["status"] == "requires_payment_method"
    assert failed["last_payment_error"]["code"] == "card_declined"
    again = await harness_http.post(f"/_harness/payment_intents/{ok.id}/succeed")
    assert again.status_code == 400


async def test_refund_of_an_unpaid_intent_is_a_400(harness_http, stripe_client) -> None:
    intent = await stripe_client.v1.payment_intents.create_async(
        params={"amount": 700, "currency": "jpy"}
    )

    answer = await harness_http.post(f"/_harness/payment_intents/{intent.id}/refund")

    assert answer.status_code == 400


async def test_state_counts_and_deliveries(
    fake_stripe: FakeStripe, harness_http, webhook_endpoint, open_session
) -> None:
    await complete(harness_http, open_session.id, "paid")
    drained = await harness_http.post("/_harness/drain", json={"timeout": 5})

    state = (await harness_http.get("/_harness/state")).json()
    deliveries = (await harness_http.get("/_harness/deliveries")).json()
    only_charges = (
        await harness_http.get("/_harness/deliveries", params={"type": "charge.succeeded"})
    ).json()

    assert drained.json() == {"idle": True}
    assert (state["sessions"], state["intents"], state["events"]) == (1, 1, 3)
    assert (state["deliveries"], state["pending_deliveries"]) == (3, 0)
    assert [d["type"] for d in deliveries][0] == "checkout.session.completed"
    assert set(deliveries[0]) >= {
        "event_id",
        "type",
        "url",
        "status_code",
        "attempt",
        "at",
        "fault",
    }
    assert [d["type"] for d in only_charges] == ["charge.succeeded"]


async def test_inspector_page_lists_everything(
    fake_stripe, harness_http, webhook_endpoint, open_session
) -> None:
    paid = (await complete(harness_http, open_session.id, "paid")).json()
    await fake_stripe.drain()

    page = await harness_http.get("/_harness/")

    assert page.headers["content-type"].startswith("text/html")
    for text in (open_session.id, paid["session"]["payment_intent"], "charge.succeeded", "¥3,000"):
        assert text in page.text


async def test_control_api_needs_no_key_but_the_stripe_api_does(harness_http) -> None:
    assert (await harness_http.get("/_harness/state")).status_code == 200
    unauthenticated = await harness_http.get("/v1/checkout/sessions")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["type"] == "invalid_request_error"


async def test_sdk_errors_carry_stripe_error_fields(stripe_client) -> None:
    try:
        await stripe_client.v1.payment_intents.retrieve_async("pi_unknown")
    except stripe.InvalidRequestError as error:
        assert error.error.type == "invalid_request_error"
        assert error.param == "id"
        assert "No such payment_intent: 'pi_unknown'" in error.user_message


async def test_inspector_links_to_the_api_reference_of_each_service_it_sends_events_to(
    fake_stripe, harness_http, webhook_endpoint
) -> None:
    before = await harness_http.get("/_harness/")
    fake_stripe.add_webhook_endpoint("http://127.0.0.1:9/api/v1/webhooks/stripe")

    page = await harness_http.get("/_harness/")

    assert "no service receives this fake's events yet" in before.text
    assert '<a href="http://127.0.0.1:9/api/v1/docs">' in page.text
    # The other endpoint (a plain webhook receiver) is no rakubun service: no link for it.
    assert page.text.count('/api/v1/docs">') == 1


async def test_inspector_says_why_an_attempt_had_no_response(
    fake_stripe, harness_http, stripe_client, open_session
) -> None:
    fake_stripe.add_webhook_endpoint("http://127.0.0.1:1/api/v1/webhooks/stripe")
    await stripe_client.v1.checkout.sessions.expire_async(open_session.id)
    await fake_stripe.drain()

    page = await harness_http.get("/_harness/")

    assert "<td>no response (ClientConnectorError: Cannot connect to host 127.0.0.1:1" in page.text
