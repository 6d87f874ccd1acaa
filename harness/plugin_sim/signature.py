"""The `X-Rakubun-Signature` check, exactly as the plugin's PHP does it."""

from __future__ import annotations

import hashlib
import hmac


def sign_body(secret: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the raw body bytes, keyed with the webhook secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(secret: str | None, body: bytes, signature: str | None) -> bool:
    """True when `signature` is the body's HMAC under `secret` (no prefix, like the plugin).

    The plugin fails closed: no stored secret or no header means an invalid signature.
    """
    if not secret or not signature:
        return False
    # sanitize_text_field() trims the header before the PHP compares it.
    return hmac.compare_digest(sign_body(secret, body), signature.strip())
