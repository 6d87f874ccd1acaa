"""Fixtures for the fake Stripe (a running fake, a real SDK client, a webhook receiver) and a
running `rakubun-harness up`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from aiohttp import web

from harness.fake_stripe import FakeStripe
from tests.harness.test_cli_up_buy import RunningUp, start_up
from tests.support.capture import CapturedRequest, CaptureServer

FAST_RETRIES = (0.05, 0.1)


@pytest.fixture
async def running_up(tmp_path: Path) -> AsyncIterator[RunningUp]:
    """`rakubun-harness up` on a temp data dir, ready (e2e tests); stopped after the test."""
    up = await start_up(tmp_path / "harness")
    yield up
    if up.process.returncode is None:
        await up.stop()


@pytest.fixture
async def fake_stripe(tmp_path) -> AsyncIterator[FakeStripe]:
    """A started FakeStripe with fast retries, persisting into a temp dir."""
    fake = FakeStripe(data_dir=tmp_path, retry_delays=FAST_RETRIES)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def stripe_client(fake_stripe: FakeStripe) -> AsyncIterator[stripe.StripeClient]:
    """The official SDK pointed at the fake (use the *_async methods in async tests)."""
    http_client = stripe.HTTPXClient()
    yield stripe.StripeClient(
        fake_stripe.secret_key, base_addresses={"api": fake_stripe.url}, http_client=http_client
    )
    await http_client.close_async()


@pytest.fixture
async def harness_http(fake_stripe: FakeStripe) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the fake's `/_harness/` control API and pages."""
    async with httpx.AsyncClient(base_url=fake_stripe.url) as http:
        yield http


class WebhookReceiver:
    """A webhook endpoint on the capture server: records each delivery raw (`received`) and
    answers the scripted `statuses` in turn, then 200."""

    def __init__(self) -> None:
        self.server = CaptureServer(self.answer)
        self.statuses: list[int] = []

    @property
    def url(self) -> str:
        return self.server.url + "/webhook"

    @property
    def received(self) -> list[CapturedRequest]:
        return self.server.calls_to("/webhook")

    async def answer(self, request: CapturedRequest) -> web.Response:
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")

    def event_ids(self) -> list[str]:
        return [request.json()["id"] for request in self.received]


def stripe_signature(request: CapturedRequest) -> str:
    return request.headers.get("Stripe-Signature", "")


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A WebhookReceiver on 127.0.0.1, served from a thread so synchronous tests can use it."""
    receiver = WebhookReceiver()
    with receiver.server.serving_in_thread():
        yield receiver


@pytest.fixture
def webhook_endpoint(fake_stripe: FakeStripe, webhook_receiver: WebhookReceiver) -> dict[str, Any]:
    """The receiver registered as a webhook endpoint for all events."""
    return fake_stripe.add_webhook_endpoint(webhook_receiver.url)


def session_params(**overrides: Any) -> dict[str, Any]:
    """Checkout Session params like the service sends: one JPY credit pack."""
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "jpy",
                    "unit_amount": 1500,
                    "product_data": {"name": "100 article credits"},
                },
                "quantity": 2,
            }
        ],
        "success_url": "https://shop.example/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.example/cancel",
        "customer_email": "buyer@example.com",
        "client_reference_id": "user-42",
        "metadata": {"user_id": "42", "package": "credits_100"},
        "payment_intent_data": {"metadata": {"user_id": "42", "package": "credits_100"}},
    }
    params.update(overrides)
    return params


async def confirmed_intent(
    stripe_client: stripe.StripeClient,
    payment_method: str,
    amount: int,
    currency: str = "usd",
    **params: Any,
) -> stripe.PaymentIntent:
    """A PaymentIntent created with `confirm=True`: `payment_method` (a test card) pays it now."""
    return await stripe_client.v1.payment_intents.create_async(
        params={
            "amount": amount,
            "currency": currency,
            "confirm": True,
            "payment_method": payment_method,
            **params,
        }
    )


@pytest.fixture
async def open_session(stripe_client: stripe.StripeClient) -> stripe.checkout.Session:
    """A fresh open Checkout Session for ¥3,000."""
    return await stripe_client.v1.checkout.sessions.create_async(params=session_params())
