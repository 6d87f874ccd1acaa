"""Small builders of domain records for the store tests; each call makes a fresh one."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from service.domain.models import (
    AttemptOutcome,
    Balances,
    CheckoutSession,
    LedgerEntry,
    NotifyFn,
    Package,
    PaymentIntentRecord,
    Site,
    WebhookAttempt,
    WebhookDraft,
)
from service.store import Store

T = TypeVar("T")

HOOK_URL = "https://wp.example.test/wp-json/rakubun/v1/webhook"


def iso_ms(delta: timedelta = timedelta()) -> str:
    """Now (plus delta) as ISO 8601 to the millisecond: BSON dates keep no finer precision."""
    value = datetime.now(UTC) + delta
    return value.replace(microsecond=value.microsecond // 1000 * 1000).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )


def new_site(**overrides: Any) -> Site:
    token = secrets.token_hex(6)
    values: dict[str, Any] = {
        "site_id": f"site_{token}",
        "instance_id": f"inst-{token}",
        "site_url": f"https://{token}.example.test",
        "admin_email": f"admin@{token}.example.test",
        "token_hash": "sha256:" + secrets.token_hex(32),
        "webhook_secret": "whsec_" + secrets.token_hex(16),
        "metadata": {"wordpress_version": "6.8.1", "plugin_version": "2.2.0"},
        "config": {"webhook_url": HOOK_URL},
    }
    values.update(overrides)
    return Site(**values)


def new_package(package_id: str, **overrides: Any) -> Package:
    values: dict[str, Any] = {
        "package_id": package_id,
        "name": package_id.replace("_", " ").title(),
        "credit_type": "article",
        "credits": 10,
        "price": 750,
        "currency": "JPY",
    }
    values.update(overrides)
    return Package(**values)


def _purchase(
    site_id: str, user_id: str, package_id: str, credits: int, amount: int
) -> dict[str, Any]:
    """What a checkout session and a payment intent both hold: a buyer, a package, a price."""
    credit_type = package_id.split("_")[0]
    return {
        "site_id": site_id,
        "user_id": user_id,
        "user_email": "buyer@example.test",
        "package_id": package_id,
        "credit_type": credit_type,
        "credits": credits,
        "amount": amount,
    }


def new_session(site_id: str, user_id: str = "42", **overrides: Any) -> CheckoutSession:
    values: dict[str, Any] = {
        "session_id": "cs_test_" + secrets.token_hex(12),
        **_purchase(site_id, user_id, "article_10", 10, 750),
        "currency": "JPY",
        "url": "https://checkout.stripe.test/c/pay/x",
        "created_at": iso_ms(),
        "expires_at": iso_ms(timedelta(hours=24)),
    }
    return CheckoutSession(**{**values, **overrides})


def new_intent(site_id: str, user_id: str = "42", **overrides: Any) -> PaymentIntentRecord:
    values: dict[str, Any] = {
        "payment_intent_id": "pi_" + secrets.token_hex(12),
        **_purchase(site_id, user_id, "image_20", 20, 1500),
        "currency": "jpy",
    }
    return PaymentIntentRecord(**{**values, **overrides})


def notify_plugin(event: str = "credits_updated") -> NotifyFn:
    """A NotifyFn as the service builds one: a webhook for every money change."""

    def notify(entry: LedgerEntry, balances: Balances) -> WebhookDraft:
        body = json.dumps(
            {
                "event": event,
                "user_id": entry.user_id,
                "transaction_id": entry.transaction_id,
                "credits": balances.to_api(),
            }
        )
        return WebhookDraft(entry.site_id, HOOK_URL, event, body)

    return notify


def draft(site_id: str, event: str = "credits_updated") -> WebhookDraft:
    return WebhookDraft(site_id, HOOK_URL, event, json.dumps({"event": event}))


#: The welcome credits the conformance tests give a new user.
FREE = {"article": 5, "image": 10, "rewrite": 3}
#: Opens another store on the same storage (the `open_store` fixture).
OpenStore = Callable[[], Awaitable[Store]]


async def funded(
    store: Store,
    site_id: str,
    user_id: str = "42",
    credits: int = 100,
    credit_type: str = "article",
) -> None:
    """A user holding `credits` of one type, granted by a purchase."""
    await store.grant_once(site_id, user_id, credit_type, credits, f"fund:{site_id}:{user_id}")


async def balance(
    store: Store, site_id: str, user_id: str = "42", credit_type: str = "article"
) -> int:
    """A user's balance of one type (0 for a user never seen)."""
    user = await store.get_user(site_id, user_id)
    return user.balances.of(credit_type) if user else 0


def failed_once(
    delivery_id: str, *, retry_at: float | None = None, duration_ms: float = 3.0
) -> AttemptOutcome:
    """A first attempt answered HTTP 500: rescheduled at `retry_at`, or failed for good."""
    attempt = WebhookAttempt(1, time.time(), 500, "HTTP 500", duration_ms)
    return AttemptOutcome(delivery_id, attempt, False, retry_at)


async def at_once(
    stores: list[Store], count: int, call: Callable[[Store, int], Awaitable[T]]
) -> list[T]:
    """`count` concurrent calls, the i-th `call(store, i)` on the stores in turn (several
    workers on one storage), answered in order."""
    return list(await asyncio.gather(*(call(stores[i % len(stores)], i) for i in range(count))))
