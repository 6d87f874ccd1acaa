"""The payment world: a fake Stripe on 127.0.0.1 the real SDK talks to, a service pointed at
it, and a WordPress plugin simulator that receives the service's webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from harness.fake_stripe import FakeStripe
from harness.plugin_sim import PluginSimulator
from tests.support.service import RunningService, Site

STRIPE_KEY = "sk_test_service_suite"
WEBHOOK_SECRET = "whsec_service_suite_secret"
RETURN_URL = ("{site}/wp-admin/admin.php?page=rakubun-ai-purchase"
              "&session_id={{CHECKOUT_SESSION_ID}}&status=success")


@dataclass
class StripeWorld:
    service: RunningService
    fake: FakeStripe
    wordpress: PluginSimulator
    site: Site

    @property
    def http(self) -> httpx.AsyncClient:
        return self.service.http

    async def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post(f"{self.fake.url}/_harness/{path}", json=body or {})
        assert response.status_code == 200, response.text
        return response.json()

    async def faults(self, **faults: Any) -> None:
        await self.control("faults", faults)

    async def checkout(self, package_id: str = "article_starter", user_id: int = 1,
                       **overrides: Any) -> str:
        package = await self.service.store.get_package(package_id)
        body = {"user_id": user_id, "user_email": "editor@example.com",
                "credit_type": package.credit_type, "package_id": package_id,
                "amount": package.price, "currency": package.currency,
                "return_url": RETURN_URL.format(site=self.wordpress.url),
                "cancel_url": f"{self.wordpress.url}/wp-admin/admin.php?status=cancel",
                **overrides}
        response = await self.site.post("/checkout/sessions", json=body)
        assert response.status_code == 200, response.text
        return response.json()["session_id"]

    async def intent(self, package_id: str = "image_starter", user_id: int = 1) -> str:
        package = await self.service.store.get_package(package_id)
        response = await self.site.post("/payments/create-intent", json={
            "user_id": user_id, "user_email": "editor@example.com",
            "credit_type": package.credit_type, "package_id": package_id,
            "amount": package.price, "currency": package.currency})
        assert response.status_code == 200, response.text
        return response.json()["payment_intent_id"]

    async def pay(self, session_id: str) -> dict[str, Any]:
        return await self.control(f"checkout/sessions/{session_id}/complete",
                                  {"outcome": "paid"})

    async def verify(self, session_id: str) -> httpx.Response:
        return await self.site.post("/checkout/verify", json={"session_id": session_id})

    async def confirm(self, payment_intent_id: str, **body: Any) -> httpx.Response:
        return await self.site.post("/payments/confirm", json={
            "payment_intent_id": payment_intent_id, "user_id": 1, **body})

    def events(self, event_type: str) -> list[str]:
        """Ids of the events of a type the fake has sent (or dropped), oldest first."""
        seen: list[str] = []
        for d in self.fake.deliveries:
            if d["type"] == event_type and d["event_id"] not in seen:
                seen.append(d["event_id"])
        return seen

    async def purchases(self, ref_prefix: str) -> list[Any]:
        entries = await self.service.store.list_ledger(site_id=self.site.site_id, limit=500)
        return [e for e in entries if e.source_ref.startswith(ref_prefix) and e.delta > 0]

    async def flush_webhooks(self) -> dict[str, Any]:
        response = await self.http.post(f"{self.service.url}/api/v1/admin/webhooks/flush",
                                        headers=self.service.admin_headers())
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    fake = FakeStripe(secret_key=STRIPE_KEY, retry_delays=(0.05, 0.1))
    await fake.start()
    yield fake
    await fake.stop()


def stripe_settings(fake: FakeStripe) -> dict[str, Any]:
    return {"stripe_secret_key": STRIPE_KEY, "stripe_api_base": fake.url,
            "stripe_webhook_secret": WEBHOOK_SECRET, "stripe_public_key": "pk_test_suite"}


@pytest.fixture
async def make_world(make_service, fake_stripe: FakeStripe):
    """Build a world; settings overrides go to the service (e.g. webhook_dispatch=False)."""
    simulators: list[PluginSimulator] = []

    async def build(**overrides: Any) -> StripeWorld:
        service = await make_service(**{**stripe_settings(fake_stripe), **overrides})
        fake_stripe.add_webhook_endpoint(f"{service.url}/api/v1/webhooks/stripe",
                                         secret=WEBHOOK_SECRET)
        wordpress = PluginSimulator(service.url)
        await wordpress.start()
        simulators.append(wordpress)
        site = await service.register(site_url=wordpress.url)
        # The simulator verifies webhooks with the secret the plugin got at registration.
        wordpress.options.webhook_secret = site.webhook_secret
        wordpress.options.api_token = site.token
        wordpress.options.instance_id = site.instance_id
        return StripeWorld(service, fake_stripe, wordpress, site)

    yield build
    await fake_stripe.drain()
    for wordpress in simulators:
        await wordpress.stop()


@pytest.fixture
async def world(make_world) -> StripeWorld:
    return await make_world()
