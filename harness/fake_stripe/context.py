"""What every route handler needs, stored on the aiohttp app under one key."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .state import StripeState
from .webhooks import WebhookDispatcher


@dataclass
class FakeContext:
    """The fake's state, its webhook dispatcher, keys and public base URL."""

    state: StripeState
    webhooks: WebhookDispatcher
    secret_key: str
    publishable_key: str
    base_url: str = ""


CONTEXT = web.AppKey("fake_stripe", FakeContext)


def context(request: web.Request) -> FakeContext:
    """The FakeContext of the app serving `request`."""
    return request.app[CONTEXT]
