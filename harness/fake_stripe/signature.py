"""The `Stripe-Signature` header: `t=<unix>,v1=<hex HMAC-SHA256 of "t.payload">`."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_webhook_secret() -> str:
    """A fresh signing secret shaped like Stripe's (`whsec_...`)."""
    return "whsec_" + secrets.token_hex(24)


def stripe_signature(payload: str, secret: str, timestamp: int) -> str:
    """Sign `payload` exactly as Stripe does, for verification by `stripe.Webhook`."""
    signed = f"{timestamp}.{payload}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
