"""A real browser runs the fake Stripe.js on a merchant's page against a running fake Stripe.

The page comes from another origin than the fake (as a shop's page and js.stripe.com do), so
the script's calls cross origins like Stripe.js's. Test cards: 4242 pays, 0002 is declined,
3155 asks for 3-D Secure in a modal whose page the test completes or fails.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from harness.fake_stripe import FakeStripe
from tests.conftest import CHROMIUM
from tests.support.capture import CapturedRequest, CaptureServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian chromium at /usr/bin"),
]

VISA, DECLINED, THREE_D_SECURE = "4242424242424242", "4000000000000002", "4000002500003155"
MODAL_FRAME = "#fake-stripe-3ds iframe"


@pytest.fixture
async def shop(fake_stripe: FakeStripe) -> AsyncIterator[str]:
    """A merchant page that loads the fake's `/v3/` and mounts a card Element in `#card`."""

    async def page(request: CapturedRequest) -> web.Response:
        if request.path != "/pay":
            return web.Response(status=404)
        html = f"""<!doctype html><html><head>
<script src="{fake_stripe.url}/v3/"></script></head><body>
<h1>Shop</h1><div id="card"></div>
<script>
  window.stripe = Stripe("{fake_stripe.publishable_key}");
  window.elements = stripe.elements();
  window.card = elements.create("card");
  card.mount("#card");
</script></body></html>"""
        return web.Response(text=html, content_type="text/html")

    async with CaptureServer(page) as server:
        yield server.url


@pytest.fixture
async def intent(stripe_client) -> dict[str, Any]:
    """A ¥3,000 PaymentIntent the server side made with the secret key."""
    created = await stripe_client.v1.payment_intents.create_async(
        params={"amount": 3000, "currency": "jpy"}
    )
    return created.to_dict()


async def type_card(page, number: str) -> None:
    await page.fill("#card [data-fake-stripe=number]", number)
    await page.fill("#card [data-fake-stripe=expiry]", "12 / 40")
    await page.fill("#card [data-fake-stripe=cvc]", "123")


async def start_confirm(page, shop: str, intent: dict[str, Any], number: str) -> None:
    """Open the shop, type the card, and start confirmCardPayment (kept in `window.result`)."""
    await page.goto(f"{shop}/pay")
    await type_card(page, number)
    await page.evaluate(
        "secret => { window.result = stripe.confirmCardPayment(secret, "
        "{payment_method: {card: window.card}}); }",
        intent["client_secret"],
    )


async def result(page) -> dict[str, Any]:
    return await page.evaluate("window.result")


async def test_4242_pays(page, shop, intent, stripe_client) -> None:
    await start_confirm(page, shop, intent, VISA)

    outcome = await result(page)

    assert outcome["paymentIntent"]["status"] == "succeeded"
    assert "error" not in outcome
    paid = await stripe_client.v1.payment_intents.retrieve_async(intent["id"])
    assert paid.status == "succeeded"


async def test_0002_is_declined(page, shop, intent, stripe_client) -> None:
    await start_confirm(page, shop, intent, DECLINED)

    outcome = await result(page)

    assert (outcome["error"]["type"], outcome["error"]["code"]) == ("card_error", "card_declined")
    assert outcome["error"]["message"] == "Your card was declined."
    assert outcome["error"]["payment_intent"]["id"] == intent["id"]
    unpaid = await stripe_client.v1.payment_intents.retrieve_async(intent["id"])
    assert unpaid.status == "requires_payment_method"


async def test_3155_authenticated_in_the_modal_pays(page, shop, intent, stripe_client) -> None:
    await start_confirm(page, shop, intent, THREE_D_SECURE)

    modal = page.frame_locator(MODAL_FRAME)
    await modal.locator("#authenticate-complete").click()
    outcome = await result(page)

    assert outcome["paymentIntent"]["status"] == "succeeded"
    assert await page.locator("#fake-stripe-3ds").count() == 0
    paid = await stripe_client.v1.payment_intents.retrieve_async(intent["id"])
    assert paid.status == "succeeded"


async def test_3155_failed_in_the_modal_is_an_error(page, shop, intent, stripe_client) -> None:
    await start_confirm(page, shop, intent, THREE_D_SECURE)

    await page.frame_locator(MODAL_FRAME).locator("#authenticate-fail").click()
    outcome = await result(page)

    assert outcome["error"]["code"] == "payment_intent_authentication_failure"
    assert outcome["error"]["payment_intent"]["status"] == "requires_payment_method"
    unpaid = await stripe_client.v1.payment_intents.retrieve_async(intent["id"])
    assert unpaid.status == "requires_payment_method"


async def test_an_incomplete_card_is_a_validation_error_without_a_call(
    page, shop, intent, fake_stripe: FakeStripe
) -> None:
    await page.goto(f"{shop}/pay")
    await page.fill("#card [data-fake-stripe=number]", VISA)

    outcome = await page.evaluate(
        "secret => stripe.confirmCardPayment(secret, {payment_method: {card: window.card}})",
        intent["client_secret"],
    )

    assert outcome["error"]["type"] == "validation_error"
    assert not fake_stripe.state.tables.get("payment_method")


async def test_a_bad_card_number_gets_stripes_error(page, shop) -> None:
    await page.goto(f"{shop}/pay")
    await type_card(page, "4242424242424241")

    outcome = await page.evaluate("stripe.createPaymentMethod({type: 'card', card: window.card})")

    assert (outcome["error"]["type"], outcome["error"]["code"]) == (
        "card_error",
        "incorrect_number",
    )


async def test_create_payment_method_then_retrieve_and_confirm_payment(page, shop, intent) -> None:
    await page.goto(f"{shop}/pay")
    await type_card(page, VISA)

    method = await page.evaluate("stripe.createPaymentMethod({type: 'card', card: window.card})")
    confirmed = await page.evaluate(
        "secret => stripe.confirmPayment({elements, clientSecret: secret, redirect: 'if_required'})",
        intent["client_secret"],
    )
    read = await page.evaluate(
        "secret => stripe.retrievePaymentIntent(secret)", intent["client_secret"]
    )

    assert method["paymentMethod"]["card"]["last4"] == "4242"
    assert confirmed["paymentIntent"]["status"] == "succeeded"
    assert read["paymentIntent"]["status"] == "succeeded"


async def test_redirect_to_checkout_opens_the_hosted_page(page, shop, open_session) -> None:
    await page.goto(f"{shop}/pay")

    await page.evaluate("id => { stripe.redirectToCheckout({sessionId: id}); }", open_session.id)
    await page.wait_for_url(f"**/checkout/pay/{open_session.id}")

    assert await page.locator("#pay").count() == 1
