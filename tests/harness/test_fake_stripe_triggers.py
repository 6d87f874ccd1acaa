"""The Stripe CLI's payment fixtures (`harness/stripe_fixtures/`) against the fake Stripe in
process, and the Stripe behaviours they rely on: manual capture, debits that settle, 3-D
Secure, dispute and refund-failure test cards, payment pages, cash balance funding.
`contracts/test_stripe_cli.py` runs the same files through the official CLI binary.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from harness.fake_stripe import FakeStripe
from harness.fake_stripe.resources import CHARGE, EVENT, PAYMENT_INTENT, REFUND
from harness.stripe_fixture import fixture_events, load_fixture, run_fixture
from tests.support.stripe_triggers import EMITTED

from .conftest import confirmed_intent


async def run(fake_stripe: FakeStripe, event: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        return await run_fixture(http, fake_stripe.url, fake_stripe.secret_key, load_fixture(event))


def emitted(fake_stripe: FakeStripe) -> tuple[str, ...]:
    return tuple(e["type"] for e in reversed(fake_stripe.state.newest_first(EVENT)))


@pytest.mark.parametrize("event", fixture_events())
async def test_each_cli_fixture_runs_and_emits_its_events_as_stripe(
    fake_stripe: FakeStripe, event: str
) -> None:
    await run(fake_stripe, event)

    assert emitted(fake_stripe) == EMITTED[event]


async def test_manual_capture_holds_then_captures_part(fake_stripe, stripe_client) -> None:
    intent = await confirmed_intent(stripe_client, "pm_card_visa", 2000, capture_method="manual")
    assert (intent.status, intent.amount_capturable, intent.amount_received) == (
        "requires_capture",
        2000,
        0,
    )
    held = fake_stripe.state.get(CHARGE, intent.latest_charge)
    assert (held["captured"], held["amount_captured"], held["status"]) == (False, 0, "succeeded")

    captured = await stripe_client.v1.payment_intents.capture_async(
        intent.id, params={"amount_to_capture": 1500}
    )

    assert (captured.status, captured.amount_received, captured.amount_capturable) == (
        "succeeded",
        1500,
        0,
    )
    assert fake_stripe.state.get(CHARGE, intent.latest_charge)["amount_captured"] == 1500
    with pytest.raises(stripe.InvalidRequestError, match="status of succeeded"):
        await stripe_client.v1.payment_intents.capture_async(intent.id)


async def test_a_card_needing_3d_secure_waits_until_the_control_api_succeeds_it(
    fake_stripe, stripe_client, harness_http
) -> None:
    intent = await confirmed_intent(stripe_client, "pm_card_authenticationRequired", 500)
    assert (intent.status, intent.next_action.type) == ("requires_action", "use_stripe_sdk")

    await harness_http.post(f"/_harness/payment_intents/{intent.id}/succeed", json={})

    assert fake_stripe.state.get(PAYMENT_INTENT, intent.id)["status"] == "succeeded"
    assert emitted(fake_stripe)[-2:] == ("payment_intent.succeeded", "charge.succeeded")


async def test_the_dispute_card_withdraws_the_funds_and_the_inquiry_card_does_not(
    fake_stripe, stripe_client
) -> None:
    for card in ("pm_card_createDispute", "pm_card_createDisputeInquiry"):
        await confirmed_intent(stripe_client, card, 100)

    disputes = await stripe_client.v1.disputes.list_async()
    assert [d.status for d in disputes.data] == ["warning_needs_response", "needs_response"]
    assert emitted(fake_stripe).count("charge.dispute.funds_withdrawn") == 1
    inquiry = await stripe_client.v1.disputes.close_async(disputes.data[0].id)
    lost = await stripe_client.v1.disputes.close_async(disputes.data[1].id)
    assert (inquiry.status, lost.status) == ("warning_closed", "lost")


async def test_a_refund_of_the_refund_fail_card_fails_and_its_money_returns_to_the_charge(
    fake_stripe, stripe_client
) -> None:
    intent = await confirmed_intent(stripe_client, "pm_card_refundFail", 800)

    refund = await stripe_client.v1.refunds.create_async(
        params={"payment_intent": intent.id, "amount": 300}
    )

    stored = fake_stripe.state.get(REFUND, refund.id)
    assert (stored["status"], stored["failure_reason"]) == ("failed", "expired_or_canceled_card")
    charge = fake_stripe.state.get(CHARGE, intent.latest_charge)
    assert (charge["amount_refunded"], charge["refunded"]) == (0, False)
    failed = fake_stripe.state.newest_first(EVENT)[1]
    assert (failed["type"], failed["data"]["object"]["status"]) == (
        "charge.refund.updated",
        "failed",
    )


@pytest.mark.parametrize(
    ("iban", "status", "last"),
    [
        ("AT611904300234573201", "succeeded", "charge.succeeded"),
        ("AT861904300235473202", "requires_payment_method", "charge.failed"),
        ("AT321904300235473204", "processing", "charge.pending"),
    ],
)
async def test_a_sepa_debit_settles_as_its_test_iban_says(
    fake_stripe, stripe_client, iban, status, last
) -> None:
    method = await stripe_client.v1.payment_methods.create_async(
        params={"type": "sepa_debit", "sepa_debit": {"iban": iban}}
    )

    intent = await confirmed_intent(
        stripe_client, method.id, 1000, "eur", payment_method_types=["sepa_debit"]
    )

    assert intent.status == status
    assert emitted(fake_stripe)[:3] == (
        "payment_intent.created",
        "payment_intent.processing",
        "charge.pending",
    )
    assert emitted(fake_stripe)[-1] == last


async def test_a_card_is_refused_for_an_intent_that_takes_only_debits(stripe_client) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="not allowed"):
        await confirmed_intent(
            stripe_client, "pm_card_visa", 1000, "eur", payment_method_types=["sepa_debit"]
        )


async def test_a_bank_transfer_pays_the_waiting_intent_in_parts(fake_stripe, stripe_client) -> None:
    customer = await stripe_client.v1.customers.create_async(params={"name": "Hanako"})
    intent = await stripe_client.v1.payment_intents.create_async(
        params={
            "amount": 20000,
            "currency": "jpy",
            "customer": customer.id,
            "confirm": True,
            "payment_method_types": ["customer_balance"],
            "payment_method_data": {"type": "customer_balance"},
        }
    )
    assert intent.status == "requires_action"
    fund = f"/v1/test_helpers/customers/{customer.id}/fund_cash_balance"

    for _ in range(2):
        await stripe_client.raw_request_async("post", fund, amount=10000, currency="jpy")

    paid = fake_stripe.state.get(PAYMENT_INTENT, intent.id)
    assert (paid["status"], paid["amount_received"]) == ("succeeded", 20000)
    assert emitted(fake_stripe)[2:] == (
        "payment_intent.partially_funded",
        "payment_intent.succeeded",
        "charge.succeeded",
    )


async def test_a_payment_page_refuses_an_amount_the_session_does_not_have(
    fake_stripe, stripe_client
) -> None:
    product = await stripe_client.v1.products.create_async(params={"name": "Credits"})
    price = await stripe_client.v1.prices.create_async(
        params={"product": product.id, "unit_amount": 750, "currency": "jpy"}
    )
    session = await stripe_client.v1.checkout.sessions.create_async(
        params={
            "mode": "payment",
            "line_items": [{"price": price.id, "quantity": 2}],
            "success_url": "https://example.com/ok",
        }
    )
    assert session.amount_total == 1500
    confirm = f"/v1/payment_pages/{session.id}/confirm"

    with pytest.raises(stripe.InvalidRequestError, match="expected amount"):
        await stripe_client.raw_request_async(
            "post", confirm, payment_method="pm_card_visa", expected_amount=1000
        )
    await stripe_client.raw_request_async(
        "post", confirm, payment_method="pm_card_visa", expected_amount=1500
    )

    paid = await stripe_client.v1.checkout.sessions.retrieve_async(session.id)
    assert (paid.status, paid.payment_status) == ("complete", "paid")


async def test_an_unknown_test_card_or_price_is_a_stripe_404_like_error(stripe_client) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="No such PaymentMethod: 'pm_card_nope'"):
        await stripe_client.v1.payment_intents.create_async(
            params={"amount": 100, "currency": "usd", "payment_method": "pm_card_nope"}
        )
    with pytest.raises(stripe.InvalidRequestError, match="No such price: 'price_nope'"):
        await stripe_client.v1.checkout.sessions.create_async(
            params={
                "mode": "payment",
                "line_items": [{"price": "price_nope", "quantity": 1}],
                "success_url": "https://example.com/ok",
            }
        )
