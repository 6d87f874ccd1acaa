"""What a publishable key (`pk_...`, Stripe.js's key) may do: the calls Stripe lets a browser make.

Invariant: a publishable key reaches only `CLIENT_ROUTES`, and a PaymentIntent only together
with that intent's own `client_secret`; every other `/v1` call needs the secret key.
"""

from __future__ import annotations

from aiohttp import web

from . import payment_intents
from .context import context
from .errors import StripeError
from .resources import PAYMENT_INTENT
from .wire import read_params

CLIENT_ROUTES = frozenset(
    {
        ("POST", "/v1/payment_methods"),
        ("GET", "/v1/payment_intents/{id}"),
        ("POST", "/v1/payment_intents/{id}/confirm"),
    }
)
# The client routes that act on one PaymentIntent, so need its client_secret.
INTENT_ROUTES = frozenset(r for r in CLIENT_ROUTES if r[1].startswith(PAYMENT_INTENT.url + "/"))

SECRET_KEY_ONLY = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. "
    "You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
)


def route_of(request: web.Request) -> tuple[str, str]:
    """(method, route pattern) of a request: `("GET", "/v1/payment_intents/{id}")`."""
    resource = request.match_info.route.resource
    return request.method, resource.canonical if resource is not None else request.path


async def key_param(request: web.Request) -> str:
    """The `key` parameter Stripe.js authenticates with (query string or form body)."""
    try:
        key = (await read_params(request)).get("key")
    except UnicodeDecodeError:
        return ""  # no readable key: the caller answers 401
    return key if isinstance(key, str) else ""


async def authorize(request: web.Request) -> None:
    """Let a publishable-key request through only to a client route, with its client_secret."""
    route = route_of(request)
    if route not in CLIENT_ROUTES:
        raise StripeError(401, SECRET_KEY_ONLY)
    if route in INTENT_ROUTES:
        await check_client_secret(request)


async def check_client_secret(request: web.Request) -> None:
    """Stripe's 404 for an unknown intent, 400 for a missing or wrong `client_secret`."""
    params = await read_params(request)
    intent = context(request).state.get(PAYMENT_INTENT, request.match_info["id"])
    secret = params.get("client_secret")
    payment_intents.check_client_secret(intent, secret if isinstance(secret, str) else None)
