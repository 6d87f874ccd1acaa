"""A real browser pays, cancels and is declined on the hosted checkout page."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.conftest import CHROMIUM
from tests.support.capture import CapturedRequest, CaptureServer

from .conftest import session_params

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian chromium at /usr/bin"),
]


async def merchant_page(request: CapturedRequest) -> web.Response:
    """The stand-in merchant site's success and cancel pages."""
    if request.path == "/success":
        session_id = request.query.get("session_id", "")
        return web.Response(
            text=f"<h1>Thanks</h1><p id='sid'>{session_id}</p>", content_type="text/html"
        )
    if request.path == "/cancel":
        return web.Response(text="<h1>Canceled</h1>", content_type="text/html")
    return web.Response(status=404)


@pytest.fixture
async def shop() -> AsyncIterator[str]:
    """A stand-in merchant site serving the success and cancel pages."""
    async with CaptureServer(merchant_page) as server:
        yield server.url


@pytest.fixture
async def shop_session(stripe_client, shop):
    """An open session whose success and cancel urls point at the local shop."""
    params = session_params(
        success_url=f"{shop}/success?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{shop}/cancel",
    )
    return await stripe_client.v1.checkout.sessions.create_async(params=params)


async def test_pay_lands_on_success_url_with_the_session_id(
    page, shop, shop_session, stripe_client
) -> None:
    await page.goto(shop_session.url)
    assert "¥3,000" in await page.inner_text("#total")

    await page.click("#pay")
    await page.wait_for_url(f"{shop}/success**")

    assert page.url == f"{shop}/success?session_id={shop_session.id}"
    assert await page.inner_text("#sid") == shop_session.id
    paid = await stripe_client.v1.checkout.sessions.retrieve_async(shop_session.id)
    assert (paid.status, paid.payment_status) == ("complete", "paid")


async def test_cancel_lands_on_cancel_url(page, shop, shop_session, stripe_client) -> None:
    await page.goto(shop_session.url)

    await page.click("#cancel")
    await page.wait_for_url(f"{shop}/cancel")

    assert await page.inner_text("h1") == "Canceled"
    session = await stripe_client.v1.checkout.sessions.retrieve_async(shop_session.id)
    assert session.status == "open"


async def test_decline_shows_the_message_and_leaves_the_session_unpaid(
    page, shop_session, stripe_client
) -> None:
    await page.goto(shop_session.url)

    await page.click("#decline")
    await page.wait_for_selector("#message")

    assert "Your card was declined" in await page.inner_text("#message")
    assert page.url == shop_session.url
    session = await stripe_client.v1.checkout.sessions.retrieve_async(shop_session.id)
    assert (session.status, session.payment_status) == ("open", "unpaid")
