"""The plugin on the harness's WordPress stand-in, and the checks every flow ends with.

The simulator makes the plugin's calls with the credentials it got at registration and keeps
them to itself; only reads the simulator has no call for use its stored options directly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from harness.plugin_sim import OptionsStore
from harness.testing import HarnessProcess

USER_EMAIL = "editor@example.com"
#: The balances a user starts with, before any purchase.
FREE = {"article": 5, "image": 10, "rewrite": 3}


@dataclass
class WordPressSite:
    """The plugin installed on the simulator's WordPress, registered with the service."""

    up: HarnessProcess
    instance_id: str
    site_id: str

    @classmethod
    async def activate(cls, up: HarnessProcess) -> WordPressSite:
        """Activate the plugin: it registers with the service and keeps token and secret."""
        outcome = await up.plugin.register()
        assert outcome["success"], outcome
        instance_id = outcome["instance_id"]
        return cls(up, instance_id, await up.admin.site_id_of(instance_id))

    # -- the plugin's calls ---------------------------------------------------------------------

    async def call(self, name: str, **overrides: Any) -> tuple[int, Any]:
        return await self.up.plugin.call(name, **overrides)

    async def package(self, package_id: str) -> dict[str, Any]:
        status, body = await self.call("packages")
        assert status == 200, body
        return next(p for p in body["packages"]["packages"] if p["package_id"] == package_id)

    async def order(self, package_id: str) -> dict[str, Any]:
        """What the plugin sends to buy a package: its id, credit type, price and currency."""
        package = await self.package(package_id)
        return {
            "package_id": package_id,
            "credit_type": package["credit_type"],
            "amount": package["price"],
            "currency": package["currency"],
        }

    async def checkout(self, package_id: str = "article_starter") -> str:
        """Start a hosted checkout for a package; answers the session id."""
        status, body = await self.call("checkout", **await self.order(package_id))
        assert status == 200 and body["success"], body
        return str(body["session_id"])

    async def verify(self, session_id: str) -> tuple[int, dict[str, Any]]:
        return await self.call("verify", session_id=session_id)

    async def create_intent(self, package_id: str = "image_starter") -> str:
        """Start a direct PaymentIntent purchase; answers the intent id."""
        status, body = await self.call("create-intent", **await self.order(package_id))
        assert status == 200 and body["success"], body
        return str(body["payment_intent_id"])

    async def confirm(
        self, payment_intent_id: str, credit_type: str = "image"
    ) -> tuple[int, dict[str, Any]]:
        return await self.call(
            "confirm", payment_intent_id=payment_intent_id, credit_type=credit_type
        )

    async def credits(self, user_id: int = 1) -> dict[str, int]:
        status, body = await self.call("credits", user_id=user_id)
        assert status == 200, body
        return {key.removesuffix("_credits"): value for key, value in body["credits"].items()}

    async def session_status(self, session_id: str) -> dict[str, Any]:
        """GET /checkout/sessions/{id} (no plugin call does it; the stored token is used)."""
        options = OptionsStore(self.up.data_dir).load()
        response = await self.up.http.get(
            f"{self.up.api_url}/api/v1/checkout/sessions/{session_id}",
            headers={
                "Authorization": f"Bearer {options.api_token}",
                "X-Instance-ID": options.instance_id,
            },
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    # -- what the service and WordPress recorded ------------------------------------------------

    async def ledger(self) -> list[dict[str, Any]]:
        return await self.up.admin.ledger(self.site_id)

    async def entries(self, kind: str) -> list[dict[str, Any]]:
        return [entry for entry in await self.ledger() if entry["kind"] == kind]

    async def delivered_credits_updated(self) -> list[dict[str, Any]]:
        """credits_updated webhooks WordPress accepted (200), in arrival order."""
        return [w for w in await self.up.plugin.webhooks("credits_updated") if w["status"] == 200]


def checkout_ref(session_id: str) -> str:
    return f"checkout:{session_id}"


def intent_ref(payment_intent_id: str) -> str:
    return f"intent:{payment_intent_id}"


async def assert_settled(
    site: WordPressSite, *, payments: dict[str, int], credits: dict[str, int], reversals: int = 0
) -> None:
    """The end state of every flow.

    `payments` maps each payment's grant reference (`checkout:cs_…`/`intent:pi_…`) to the
    credits it bought: the ledger has exactly one purchase entry per payment, WordPress got
    exactly one accepted, validly signed `credits_updated` for each (with `user_email`), the
    balances are `credits`, and the service's books reconcile.
    """
    flushed = await site.up.admin.flush_webhooks()
    assert flushed["pending"] == 0, flushed

    purchases = await site.entries("purchase")
    assert Counter(e["source_ref"] for e in purchases) == Counter(list(payments)), purchases
    assert {e["source_ref"]: e["delta"] for e in purchases} == payments
    assert len(await site.entries("reversal")) == reversals

    assert await site.credits() == credits

    received = await site.up.plugin.webhooks()
    assert received, "WordPress received no webhook"
    assert all(w["signature_valid"] for w in received), received
    delivered = await site.delivered_credits_updated()
    purchase_webhooks = [w for w in delivered if w["data"].get("reason") == "purchase"]
    for ref, bought in payments.items():
        kind, _, payment_id = ref.partition(":")
        key = "session_id" if kind == "checkout" else "payment_intent_id"
        matching = [w for w in purchase_webhooks if w["data"].get(key) == payment_id]
        assert len(matching) == 1, (ref, delivered)
        assert matching[0]["data"]["user_email"] == USER_EMAIL
        assert matching[0]["data"]["change"] == bought
    assert len(purchase_webhooks) == len(payments), purchase_webhooks

    report = await site.up.admin.reconcile()
    assert report["ok"], report


async def settle(up: HarnessProcess, session_id: str, outcome: str = "paid") -> dict[str, Any]:
    """The customer ends the hosted checkout with `outcome`; Stripe delivers every event of it."""
    session = await up.stripe.pay(session_id, outcome)
    await up.stripe.drain()
    return session


async def assert_bought_once(
    site: WordPressSite, session_id: str, credit_type: str = "article", credits: int = 10
) -> None:
    """`assert_settled` after one paid checkout (article_starter unless told) and nothing else."""
    await assert_settled(
        site,
        payments={checkout_ref(session_id): credits},
        credits={**FREE, credit_type: FREE[credit_type] + credits},
    )
