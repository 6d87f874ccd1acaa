"""A real browser clicks the inspector's buttons and watches the page refresh itself."""

from __future__ import annotations

import os

import pytest

from tests.conftest import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian chromium at /usr/bin"),
]


async def paid_intent(harness_http, session_id: str) -> str:
    paid = await harness_http.post(
        f"/_harness/checkout/sessions/{session_id}/complete", json={"outcome": "paid"}
    )
    return str(paid.json()["session"]["payment_intent"])


async def test_clicking_refund_lists_the_refund(page, fake_stripe, harness_http, open_session):
    intent_id = await paid_intent(harness_http, open_session.id)
    await page.goto(f"{fake_stripe.url}/_harness/")

    await page.click(f'tr[id="{intent_id}"] button:text-is("Refund")')
    await page.wait_for_url("**/_harness/#refunds")

    refund_row = page.locator('#refunds + table tr[id^="re_"]')
    assert await refund_row.count() == 1
    assert intent_id in await refund_row.inner_text()
    assert (await harness_http.get("/_harness/state")).json()["refunds"] == 1


async def test_clicking_dispute_then_lost_closes_it(page, fake_stripe, harness_http, open_session):
    intent_id = await paid_intent(harness_http, open_session.id)
    await page.goto(f"{fake_stripe.url}/_harness/")

    await page.click(f'tr[id="{intent_id}"] button:text-is("Dispute")')
    await page.wait_for_url("**/_harness/#disputes")
    await page.click('tr[id^="dp_"] button:text-is("Lost")')
    await page.wait_for_load_state()

    assert "lost" in await page.locator('tr[id^="dp_"]').inner_text()


async def test_a_refused_click_shows_stripes_message(page, fake_stripe, harness_http, open_session):
    intent_id = await paid_intent(harness_http, open_session.id)
    await harness_http.post(f"/_harness/payment_intents/{intent_id}/refund", json={})
    await page.goto(f"{fake_stripe.url}/_harness/")

    await page.click(f'tr[id="{intent_id}"] button:text-is("Refund")')

    assert "has already been refunded" in await page.inner_text("#message")


async def test_the_page_shows_a_refund_made_elsewhere_by_itself(
    page, fake_stripe, harness_http, open_session
):
    intent_id = await paid_intent(harness_http, open_session.id)
    await page.goto(f"{fake_stripe.url}/_harness/")
    assert await page.locator('tr[id^="re_"]').count() == 0

    await harness_http.post(f"/_harness/payment_intents/{intent_id}/refund", json={})

    await page.locator('tr[id^="re_"]').wait_for(timeout=15_000)  # no reload from this test
