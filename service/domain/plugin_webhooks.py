"""Webhooks to the plugin: their URL, body and signature, exactly as the plugin verifies them."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import orjson

from .ids import random_hex
from .models import Balances, LedgerEntry, NotifyFn, Site, WebhookDraft, now_iso
from .webhook_targets import webhook_url

__all__ = ["EVENTS", "credits_updated", "draft", "sign", "webhook_url"]

EVENTS = (
    "credits_updated",
    "config_updated",
    "package_updated",
    "plugin_disabled",
    "plugin_enabled",
    "test_webhook",
)


def sign(body: bytes, secret: str) -> str:
    """`X-Rakubun-Signature`: lowercase hex HMAC-SHA256 of the raw body bytes, no prefix."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def draft(site: Site, event: str, data: dict[str, Any]) -> WebhookDraft:
    """Serialise the body once; the exact bytes stored are the bytes signed and sent."""
    body = {
        "event": event,
        "data": data,
        "timestamp": now_iso(),
        "instance_id": site.instance_id,
        "webhook_id": "wh_" + random_hex(8),
    }
    return WebhookDraft(site.site_id, webhook_url(site.site_url), event, encode(body))


def encode(body: dict[str, Any]) -> str:
    """Compact JSON, non-ASCII as is. orjson: this runs inside the deduction's transaction on
    the SQLite writer; what orjson refuses (a lone surrogate, an int past 64 bits) the
    standard encoder writes in the same compact form."""
    try:
        return orjson.dumps(body).decode()
    except TypeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def credits_updated(
    site: Site, *, user_email: str | None, reason: str, extra: dict[str, Any] | None = None
) -> NotifyFn:
    """A NotifyFn for a money change: `credits_updated` with `data.user_email`, which the
    plugin needs to find the user. Without an email it sends nothing: the plugin would refuse
    the webhook, and the outbox would retry one that can never succeed."""

    def build(entry: LedgerEntry, balances: Balances) -> WebhookDraft | None:
        if not user_email:
            return None
        data = {
            "user_email": user_email,
            "user_id": entry.user_id,
            "credit_type": entry.credit_type,
            "change": entry.delta,
            "credits": balances.of(entry.credit_type),
            "remaining_credits": balances.to_api(),
            "reason": reason,
            "transaction_id": entry.transaction_id,
            **(extra or {}),
        }
        return draft(site, "credits_updated", data)

    return build
