"""API tokens: what a site is given at registration, and the only form in which it is stored.

A token is 256 random bits; the store keeps its SHA-256, never the token itself."""

from __future__ import annotations

import hashlib
import secrets


def new_api_token() -> str:
    """A fresh API token: 32 random bytes (256 bits), URL-safe."""
    return "rk_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are stored as SHA-256: they are 256-bit random, so a slow hash buys nothing."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
