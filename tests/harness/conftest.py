"""Fixtures for the fake Stripe: a running fake, a real SDK client, a webhook receiver."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import stripe
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from harness.fake_stripe import FakeStripe

FAST_RETRIES = (0.05, 0.1)


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


@dataclass
class Received:
    """One webhook request as the receiver saw it."""

    body: str
    headers: dict[str, str]

    @property
    def signature(self) -> str:
        return self.headers.get("Stripe-Signature", "")

    @property
    def event_id(self) -> str:
        return json.loads(self.body)["id"]


@dataclass
class WebhookReceiver:
    """A local endpoint (pytest-httpserver) that records raw webhook requests and answers
    scripted statuses."""

    server: HTTPServer
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200

    @property
    def url(self) -> str:
        return self.server.url_for("/webhook")

    def handle(self, request: Request) -> Response:
        self.received.append(Received(request.get_data(as_text=True), dict(request.headers)))
        status = self.statuses.pop(0) if self.statuses else 200
        return Response("ok", status=status)

    def event_ids(self) -> list[str]:
        return [r.event_id for r in self.received]


@pytest.fixture
def webhook_receiver(httpserver: HTTPServer) -> WebhookReceiver:
    """A WebhookReceiver on 127.0.0.1 (pytest-httpserver's server, cleared after each test)."""
    receiver = WebhookReceiver(httpserver)
    httpserver.expect_request("/webhook", method="POST").respond_with_handler(receiver.handle)
    return receiver


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


@pytest.fixture
async def open_session(stripe_client: stripe.StripeClient) -> stripe.checkout.Session:
    """A fresh open Checkout Session for ¥3,000."""
    return await stripe_client.v1.checkout.sessions.create_async(params=session_params())
