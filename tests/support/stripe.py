"""The one Stripe world of the suites that test grants, refunds and disputes: the real service
(in-process), a fake Stripe on 127.0.0.1 the real SDK talks to, a registered site (on a
WordPress plugin simulator that receives the service's webhooks, when asked), and Stripe's
side of things: recorded event fixtures and Stripe's signature scheme.

`tests/service/` lets the fake deliver its events to the service; the Stripe contract suites
(`contracts/`) sign and post the recorded events themselves (`deliver_events=False`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx

from harness.fake_stripe import FakeStripe
from harness.plugin_sim import PluginSimulator
from tests.support.plugin_calls import REPO_ROOT, fill_placeholders
from tests.support.service import RunningService, Site

STRIPE_KEY = "sk_test_service_suite"
WEBHOOK_SECRET = "whsec_service_suite_secret"
STRIPE_PUBLIC_KEY = "pk_test_suite"
WEBHOOK_PATH = "/api/v1/webhooks/stripe"
TOLERANCE_SECONDS = 300
RETURN_URL = (
    "{site}/wp-admin/admin.php?page=rakubun-ai-purchase"
    "&session_id={{CHECKOUT_SESSION_ID}}&status=success"
)
EVENT_FIXTURES = REPO_ROOT / "contracts" / "fixtures" / "stripe_events"


# -- recorded events and Stripe's signature scheme -------------------------------------------


def fixture_names() -> list[str]:
    """Every recorded event, by file name without `.json`."""
    return sorted(path.stem for path in EVENT_FIXTURES.glob("*.json"))


def load_fixture(name: str) -> dict[str, Any]:
    """A recorded event as stored, `{{placeholders}}` and all."""
    return dict(json.loads((EVENT_FIXTURES / f"{name}.json").read_text()))


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def event_body(event: dict[str, Any]) -> bytes:
    """The bytes Stripe posts: pretty-printed JSON, as its webhooks are."""
    return json.dumps(event, indent=2, ensure_ascii=False).encode()


def v1_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """Stripe's v1 scheme: hex HMAC-SHA256 of `{t}.{payload}` keyed with the endpoint secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()


def signature_header(
    payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> str:
    """`t=<unix time>,v1=<signature>`, as Stripe sends it."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={v1_signature(payload, secret, t)}"


def stripe_settings(fake: FakeStripe) -> dict[str, Any]:
    """Service settings pointing the gateway at the fake, with the webhook secret set."""
    return {
        "stripe_secret_key": STRIPE_KEY,
        "stripe_api_base": fake.url,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_public_key": STRIPE_PUBLIC_KEY,
    }


# -- the world ---------------------------------------------------------------------------------


@dataclass
class StripeWorld:
    """The service, the fake Stripe holding the sessions and intents, and a registered site
    whose users buy (on the plugin simulator `wordpress`, when the world has one)."""

    service: RunningService
    fake: FakeStripe
    wordpress: PluginSimulator | None
    site: Site

    @property
    def http(self) -> httpx.AsyncClient:
        return self.service.http

    @property
    def store(self) -> Any:
        return self.service.store

    # -- purchases, created through the service's API -------------------------------------

    async def purchase_body(self, package_id: str, user_id: int) -> dict[str, Any]:
        """What the plugin sends to buy a stored package: its own terms, as the plugin shows them."""
        package = await self.store.get_package(package_id)
        return {
            "user_id": user_id,
            "user_email": "editor@example.com",
            "credit_type": package.credit_type,
            "package_id": package_id,
            "amount": package.price,
            "currency": package.currency,
        }

    async def checkout(
        self, package_id: str = "article_starter", user_id: int = 1, **overrides: Any
    ) -> str:
        """A Checkout Session created by the plugin's call; answers its id."""
        body = await self.purchase_body(package_id, user_id)
        if self.wordpress is not None:
            body["return_url"] = RETURN_URL.format(site=self.wordpress.url)
            body["cancel_url"] = f"{self.wordpress.url}/wp-admin/admin.php?status=cancel"
        response = await self.site.post("/checkout/sessions", json={**body, **overrides})
        assert response.status_code == 200, response.text
        return str(response.json()["session_id"])

    async def intent(self, package_id: str = "image_starter", user_id: int = 1) -> str:
        """A PaymentIntent created by the plugin's call; answers its id."""
        body = await self.purchase_body(package_id, user_id)
        response = await self.site.post("/payments/create-intent", json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["payment_intent_id"])

    async def verify(self, session_id: str) -> httpx.Response:
        return await self.site.post("/checkout/verify", json={"session_id": session_id})

    async def confirm(self, payment_intent_id: str, **body: Any) -> httpx.Response:
        return await self.site.post(
            "/payments/confirm", json={"payment_intent_id": payment_intent_id, "user_id": 1, **body}
        )

    # -- the fake Stripe ------------------------------------------------------------------

    async def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The fake's `/_harness/` control API; anything but 200 fails the test."""
        response = await self.http.post(f"{self.fake.url}/_harness/{path}", json=body or {})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def faults(self, **faults: Any) -> None:
        await self.control("faults", faults)

    async def pay(self, session_id: str) -> dict[str, Any]:
        """Pay the session at the fake; answers the control API's answer (`session`, ...)."""
        return await self.control(f"checkout/sessions/{session_id}/complete", {"outcome": "paid"})

    async def latest_charge(self, payment_intent_id: str) -> str:
        response = await self.http.get(
            f"{self.fake.url}/v1/payment_intents/{payment_intent_id}",
            headers={"Authorization": f"Bearer {STRIPE_KEY}"},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["latest_charge"])

    async def pay_for_ids(self, session_id: str) -> dict[str, str]:
        """Pay the session at the fake; answers the ids its events carry."""
        intent_id = (await self.pay(session_id))["session"]["payment_intent"]
        return {
            "session_id": session_id,
            "payment_intent_id": intent_id,
            "charge_id": await self.latest_charge(intent_id),
        }

    async def succeed(self, payment_intent_id: str) -> dict[str, str]:
        """Make the intent succeed at the fake; answers the ids its events carry."""
        await self.control(f"payment_intents/{payment_intent_id}/succeed")
        return {
            "payment_intent_id": payment_intent_id,
            "charge_id": await self.latest_charge(payment_intent_id),
        }

    def events(self, event_type: str) -> list[str]:
        """Ids of the events of a type the fake has sent (or dropped), oldest first."""
        seen: list[str] = []
        for d in self.fake.deliveries:
            if d["type"] == event_type and d["event_id"] not in seen:
                seen.append(d["event_id"])
        return seen

    # -- recorded events, signed and posted as Stripe does ------------------------------------

    async def event(self, name: str, **ids: str) -> dict[str, Any]:
        """A recorded event with this world's ids filled in (a fresh event id by default)."""
        session = (
            await self.store.get_checkout_session(ids["session_id"])
            if "session_id" in ids
            else None
        )
        intent = (
            await self.store.get_payment_intent(ids["payment_intent_id"])
            if "payment_intent_id" in ids and session is None
            else None
        )
        record = session or intent
        values = {
            "event_id": new_event_id(),
            "site_id": self.site.site_id,
            "instance_id": self.site.instance_id,
            "session_id": "cs_test_unknown",
            "payment_intent_id": "pi_" + secrets.token_hex(12),
            "charge_id": "ch_" + secrets.token_hex(12),
            "refund_id": "re_" + secrets.token_hex(12),
            "package_id": record.package_id if record else "article_starter",
            "credit_type": record.credit_type if record else "article",
            "credits": str(record.credits) if record else "10",
            **ids,
        }
        return dict(fill_placeholders(load_fixture(name), values))

    async def post(self, body: bytes, signature: str | None) -> httpx.Response:
        """POST raw bytes to the webhook endpoint with this Stripe-Signature (None: none)."""
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        if signature is not None:
            headers["Stripe-Signature"] = signature
        return await self.http.post(self.service.url + WEBHOOK_PATH, content=body, headers=headers)

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

    async def purchases(self, ref_prefix: str) -> list[Any]:
        entries = await self.store.list_ledger(site_id=self.site.site_id, limit=500)
        return [e for e in entries if e.source_ref.startswith(ref_prefix) and e.delta > 0]

    async def session_status(self, session_id: str) -> str:
        record = await self.store.get_checkout_session(session_id)
        assert record is not None
        return str(record.status)

    async def event_recorded(self, event_id: str) -> bool:
        return bool(await self.store.stripe_event_seen(event_id))

    async def flush_webhooks(self) -> dict[str, Any]:
        response = await self.http.post(
            f"{self.service.url}/api/v1/admin/webhooks/flush", headers=self.service.admin_headers()
        )
        assert response.status_code == 200, response.text
        return dict(response.json())
