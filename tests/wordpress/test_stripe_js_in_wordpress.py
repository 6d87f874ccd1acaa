"""The plugin's own Stripe.js code runs against the harness's fake Stripe in a real WordPress.

The must-use plugin points the plugin's `stripe-js` script at the fake's `/v3/`, so the
plugin's `admin.js` (`initializeStripe`, `confirmPayment` with `stripe.confirmCardPayment`,
then the `rakubun_process_payment` AJAX call) pays a PaymentIntent with Stripe's test cards,
and the dashboard grants the credits.

v2.2.0 renders no `#rakubun-payment-form` and nothing in it calls `confirmPayment`, so no
click reaches this path (harness/wordpress/README.md, "Known plugin behaviour"). The tests
therefore call the plugin's functions from the page: they serve the plugin's admin.js with
one line appended inside its closure that hands `initializeStripe`, `confirmPayment` and the
Stripe objects they make to the page, and create the intent with the plugin's own
`rakubun_create_payment_intent` AJAX action. Everything else is the plugin's code unchanged.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio

from harness.testing import HarnessProcess

from .conftest import toggle_plugin
from .stack import WordPress
from .test_plugin_in_wordpress import (
    PACKAGE_CREDITS,
    holdings,
    open_purchase_page,
    purchases,
    shown_article_balance,
)

pytestmark = [pytest.mark.wordpress, pytest.mark.asyncio(loop_scope="module")]

ADMIN_JS = "**/rakubun-ai-content-generator/assets/js/admin.js*"
CLOSURE_END = "})(jQuery);"
EXPOSE = (
    "window.rakubunHarnessAdmin = {initializeStripe: initializeStripe, "
    "confirmPayment: confirmPayment, stripe: function () { return stripe; }, "
    "cardElement: function () { return cardElement; }};\n"
)
CREATE_INTENT = """() => new Promise((resolve, reject) => jQuery.post(rakubunAI.ajaxurl, {
    action: 'rakubun_create_payment_intent', nonce: rakubunAI.nonce, credit_type: 'articles'
}).done(resolve).fail(xhr => reject(new Error(xhr.responseText))))"""
VISA, DECLINED, THREE_D_SECURE = "4242424242424242", "4000000000000002", "4000002500003155"


async def expose_admin_js(route) -> None:
    """Serve the plugin's admin.js with its closure's Stripe functions handed to the page."""
    response = await route.fetch()
    source = await response.text()
    end = source.rindex(CLOSURE_END)  # fails loudly if admin.js no longer has this shape
    await route.fulfill(response=response, body=source[:end] + EXPOSE + source[end:])


@pytest_asyncio.fixture(loop_scope="module")
async def stripe_js(activated: WordPress, dashboard: HarnessProcess, page):
    """WordPress loads Stripe.js from the dashboard's fake Stripe; admin.js is exposed."""
    activated.set_option("rakubun_harness_stripe_url", dashboard.stripe_url)
    await page.route(ADMIN_JS, expose_admin_js)
    yield activated
    await page.unroute(ADMIN_JS, expose_admin_js)


async def start_card_payment(page, number: str) -> dict[str, Any]:
    """What the missing form would do: create the intent, mount the card, type `number`,
    make a PaymentMethod; answers the plugin's create-intent reply."""
    await page.evaluate("rakubunInitiatePayment('articles', 0)")  # sets the plugin's credit type
    created = await page.evaluate(CREATE_INTENT)
    assert created["success"], created
    await page.evaluate(
        """() => {
            rakubunHarnessAdmin.initializeStripe();
            const box = document.createElement('div');
            box.id = 'harness-card';
            document.body.appendChild(box);
            rakubunHarnessAdmin.cardElement().mount('#harness-card');
        }"""
    )
    await page.fill("#harness-card [data-fake-stripe=number]", number)
    await page.fill("#harness-card [data-fake-stripe=expiry]", "12 / 40")
    await page.fill("#harness-card [data-fake-stripe=cvc]", "123")
    return created["data"]


async def confirm_with_the_plugin(page, intent: dict[str, Any]) -> None:
    """The plugin's confirmPayment(clientSecret, paymentMethodId, paymentIntentId)."""
    await page.evaluate(
        """async intent => {
            const made = await rakubunHarnessAdmin.stripe().createPaymentMethod(
                {type: 'card', card: rakubunHarnessAdmin.cardElement()});
            rakubunHarnessAdmin.confirmPayment(
                intent.client_secret, made.paymentMethod.id, intent.payment_intent_id);
        }""",
        intent,
    )


async def stripe_intent(dashboard: HarnessProcess, intent_id: str) -> dict[str, Any]:
    """The PaymentIntent as the fake Stripe holds it (read with the secret key)."""
    answer = await dashboard.http.get(
        f"{dashboard.stripe_url}/v1/payment_intents/{intent_id}",
        headers={"Authorization": f"Bearer {dashboard.settings['stripe_secret_key']}"},
    )
    answer.raise_for_status()
    return answer.json()


def is_process_payment(response) -> bool:
    return "admin-ajax.php" in response.url and "rakubun_process_payment" in (
        response.request.post_data or ""
    )


async def test_the_plugin_loads_stripe_js_from_the_fake(stripe_js, dashboard, page):
    blocked_before = len(page.blocked)  # admin pages opened before the fake was configured

    await open_purchase_page(page, stripe_js)

    src = await page.get_attribute("script#stripe-js-js", "src")
    assert src == f"{dashboard.stripe_url}/v3/"
    assert await page.evaluate("typeof Stripe") == "function"
    key = await page.evaluate("rakubunAI.stripe_public_key")
    assert key == dashboard.settings["stripe_publishable_key"]
    assert not [url for url in page.blocked[blocked_before:] if "js.stripe.com" in url]


@pytest.mark.parametrize("number", [VISA, THREE_D_SECURE])
async def test_the_plugins_payment_intent_path_grants_the_credits(
    stripe_js, dashboard, page, number
):
    before = await holdings(page, stripe_js, dashboard)
    intent = await start_card_payment(page, number)

    async with page.expect_response(is_process_payment, timeout=30_000) as processed:
        await confirm_with_the_plugin(page, intent)
        if number == THREE_D_SECURE:
            modal = page.frame_locator("#fake-stripe-3ds iframe")
            await modal.locator("#authenticate-complete").click()
    answer = await (await processed.value).json()

    assert answer["success"], answer
    bought = before.plus_one_package()
    assert answer["data"]["credits"]["article_credits"] == bought.balance
    assert await shown_article_balance(page) == bought.balance
    entries = await purchases(dashboard, stripe_js)
    source_ref = f"intent:{intent['payment_intent_id']}"
    assert [e["delta"] for e in entries if e["source_ref"] == source_ref] == [PACKAGE_CREDITS]
    assert await holdings(page, stripe_js, dashboard) == bought


async def test_a_declined_card_grants_nothing(stripe_js, dashboard, page):
    before = await holdings(page, stripe_js, dashboard)
    intent = await start_card_payment(page, DECLINED)
    calls: list[str] = []
    page.on("request", lambda request: calls.append(request.post_data or ""))

    await confirm_with_the_plugin(page, intent)
    await page.locator("#rakubun-payment-error").wait_for(state="visible")
    unpaid = await stripe_intent(dashboard, intent["payment_intent_id"])

    assert unpaid["status"] == "requires_payment_method"
    assert unpaid["last_payment_error"]["code"] == "card_declined"
    assert not [call for call in calls if "rakubun_process_payment" in call]
    assert await holdings(page, stripe_js, dashboard) == before


async def test_after_a_switch_the_page_gets_the_new_dashboards_publishable_key(
    stripe_js, dashboard, other_dashboard, page
):
    """The plugin caches the dashboard's key for a day; the must-use plugin drops it on a switch."""
    await open_purchase_page(page, stripe_js)
    assert (
        await page.evaluate("rakubunAI.stripe_public_key")
        == (dashboard.settings["stripe_publishable_key"])
    )

    stripe_js.set_option("rakubun_harness_api_url", other_dashboard.api_url)
    stripe_js.set_option("rakubun_harness_stripe_url", other_dashboard.stripe_url)
    try:
        await toggle_plugin(page, stripe_js, "deactivate")
        await toggle_plugin(page, stripe_js, "activate")
        await open_purchase_page(page, stripe_js)

        assert (
            await page.evaluate("rakubunAI.stripe_public_key")
            == (other_dashboard.settings["stripe_publishable_key"])
        )
        assert await page.get_attribute("script#stripe-js-js", "src") == (
            f"{other_dashboard.stripe_url}/v3/"
        )
    finally:
        stripe_js.set_option("rakubun_harness_api_url", dashboard.api_url)
        stripe_js.set_option("rakubun_harness_stripe_url", dashboard.stripe_url)
