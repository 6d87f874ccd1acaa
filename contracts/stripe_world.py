"""What the Stripe contract suites share: recorded event fixtures, Stripe's signature scheme,
and a world of the real service (in-process) with a fake Stripe holding the objects the
events talk about.

No webhook endpoint is registered at the fake: the events the service sees are only the
fixtures the tests sign and post themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.fake_stripe import FakeStripe
from tests.support.plugin_calls import fill_placeholders as fill

FIXTURES = Path(__file__).parent / "fixtures" / "stripe_events"
SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
WEBHOOK_PATH = "/api/v1/webhooks/stripe"
STRIPE_KEY = "sk_test_stripe_contract"
WEBHOOK_SECRET = "whsec_stripe_contract_" + "k" * 24
TOLERANCE_SECONDS = 300


# -- fixtures ----------------------------------------------------------------------------------


def fixture_names() -> list[str]:
    """Every recorded event, by file name without `.json`."""
    return sorted(path.stem for path in FIXTURES.glob("*.json"))


def load_fixture(name: str) -> dict[str, Any]:
    """A recorded event as stored, `{{placeholders}}` and all."""
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def event_body(event: dict[str, Any]) -> bytes:
    """The bytes Stripe posts: pretty-printed JSON, as its webhooks are."""
    return json.dumps(event, indent=2, ensure_ascii=False).encode()


# -- Stripe-Signature --------------------------------------------------------------------------


def v1_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """Stripe's v1 scheme: hex HMAC-SHA256 of `{t}.{payload}` keyed with the endpoint secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secret: str = WEBHOOK_SECRET,
                     timestamp: int | None = None) -> str:
    """`t=<unix time>,v1=<signature>`, as Stripe sends it."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={v1_signature(payload, secret, t)}"


# -- the world ---------------------------------------------------------------------------------


def new_fake_stripe(data_dir: Path) -> FakeStripe:
    """A fake Stripe (not started) that accepts the key the service is given."""
    return FakeStripe(secret_key=STRIPE_KEY, data_dir=data_dir)


def stripe_settings(fake: FakeStripe) -> dict[str, Any]:
    """Service settings pointing the gateway at the fake, with the webhook secret set."""
    return {"stripe_secret_key": STRIPE_KEY, "stripe_api_base": fake.url,
            "stripe_webhook_secret": WEBHOOK_SECRET, "stripe_public_key": "pk_test_contract",
            "webhook_dispatch": False}


@dataclass
class StripeEventWorld:
    """The service, the fake Stripe holding the session or intent an event refers to, and a
    registered site whose user 1 buys."""

    service: Any  # tests.conftest.RunningService
    fake: FakeStripe
    site: Any  # tests.conftest.Site

    @property
    def http(self) -> httpx.AsyncClient:
        return self.service.http

    @property
    def store(self) -> Any:
        return self.service.store

    # -- purchases, created through the service's API -------------------------------------

    async def _buy(self, path: str, package_id: str) -> dict[str, Any]:
        package = await self.store.get_package(package_id)
        response = await self.site.post(path, json={
            "user_id": 1, "user_email": "editor@example.com", "package_id": package_id,
            "credit_type": package.credit_type, "amount": package.price,
            "currency": package.currency})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def checkout(self, package_id: str = "article_starter") -> str:
        """A Checkout Session created by the plugin's call; answers its id."""
        return str((await self._buy("/checkout/sessions", package_id))["session_id"])

    async def intent(self, package_id: str = "image_starter") -> str:
        """A PaymentIntent created by the plugin's call; answers its id."""
        return str((await self._buy("/payments/create-intent", package_id))["payment_intent_id"])

    async def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post(f"{self.fake.url}/_harness/{path}", json=body or {})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def latest_charge(self, payment_intent_id: str) -> str:
        response = await self.http.get(f"{self.fake.url}/v1/payment_intents/{payment_intent_id}",
                                       headers={"Authorization": f"Bearer {STRIPE_KEY}"})
        assert response.status_code == 200, response.text
        return str(response.json()["latest_charge"])

    async def pay(self, session_id: str) -> dict[str, str]:
        """Pay the session at the fake; answers the ids its events carry."""
        session = (await self.control(f"checkout/sessions/{session_id}/complete",
                                      {"outcome": "paid"}))["session"]
        intent_id = session["payment_intent"]
        return {"session_id": session_id, "payment_intent_id": intent_id,
                "charge_id": await self.latest_charge(intent_id)}

    async def succeed(self, payment_intent_id: str) -> dict[str, str]:
        """Make the intent succeed at the fake; answers the ids its events carry."""
        await self.control(f"payment_intents/{payment_intent_id}/succeed")
        return {"payment_intent_id": payment_intent_id,
                "charge_id": await self.latest_charge(payment_intent_id)}

    # -- events -----------------------------------------------------------------------------

    async def event(self, name: str, **ids: str) -> dict[str, Any]:
        """A recorded event with this world's ids filled in (a fresh event id by default)."""
        session = await self.store.get_checkout_session(ids["session_id"]) \
            if "session_id" in ids else None
        intent = await self.store.get_payment_intent(ids["payment_intent_id"]) \
            if "payment_intent_id" in ids and session is None else None
        record = session or intent
        values = {"event_id": new_event_id(), "site_id": self.site.site_id,
                  "instance_id": self.site.instance_id, "session_id": "cs_test_unknown",
                  "payment_intent_id": "pi_" + secrets.token_hex(12),
                  "charge_id": "ch_" + secrets.token_hex(12),
                  "package_id": record.package_id if record else "article_starter",
                  "credit_type": record.credit_type if record else "article",
                  "credits": str(record.credits) if record else "10", **ids}
        return dict(fill(load_fixture(name), values))

    async def post(self, body: bytes, signature: str | None) -> httpx.Response:
        """POST raw bytes to the webhook endpoint with this Stripe-Signature (None: none)."""
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        return await self.http.post(self.service.url + WEBHOOK_PATH, content=body,
                                    headers=headers)

    async def send(self, event: dict[str, Any]) -> str:
        """Sign and post an event as Stripe does; answers the service's outcome."""
        body = event_body(event)
        response = await self.post(body, signature_header(body))
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["event_id"] == event["id"] and answer["received"] is True, answer
        return str(answer["outcome"])

    # -- what the service recorded -------------------------------------------------------

    async def credits(self) -> dict[str, int]:
        return await self.site.credits()

    async def ledger(self, kind: str | None = None) -> list[Any]:
        entries = await self.store.list_ledger(site_id=self.site.site_id, limit=500)
        return [e for e in entries if kind is None or e.kind == kind]

    async def session_status(self, session_id: str) -> str:
        record = await self.store.get_checkout_session(session_id)
        assert record is not None
        return str(record.status)

    async def event_recorded(self, event_id: str) -> bool:
        return bool(await self.store.stripe_event_seen(event_id))
