"""`/v1/checkout/sessions`: create, expire, line items; retrieve and list read through `VIEW`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import checkout_sessions
from ..context import FakeContext, context
from ..pagination import paginate
from ..resources import CHECKOUT_SESSION
from ..state import StripeState
from ..wire import read_params, stripe_json
from .reads import View
from .writes import Obj, Params, acts_on, creates

RESOURCE = CHECKOUT_SESSION
routes = web.RouteTableDef()

CREATE_PARAMS = (
    "mode",
    "line_items",
    "success_url",
    "cancel_url",
    "customer_email",
    "client_reference_id",
    "metadata",
    "payment_intent_data",
    "expires_at",
    "payment_method_types",
    "locale",
)


def render(state: StripeState, session: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    """The session as the API returns it, with `expand[]=line_items` and id expansions."""
    out = state.expanded(session, [p for p in expand if p != "line_items"])
    if "line_items" in expand:
        out["line_items"] = _line_items_list(state, session, {})
    return out


# Read, a session expires first if its time has passed, as on Stripe.
VIEW = View(fresh=checkout_sessions.expire_if_due, render=render)


def _line_items_list(state: StripeState, session: dict[str, Any], params: dict[str, Any]) -> dict:
    url = f"{RESOURCE.url}/{session['id']}/line_items"
    return paginate(checkout_sessions.line_items(state, session), params, url)


@routes.post("/v1/checkout/sessions")
@creates(CREATE_PARAMS, VIEW)
def create_session(ctx: FakeContext, params: Params) -> Obj:
    """Create a Checkout Session whose `url` is the fake's hosted payment page."""
    return checkout_sessions.create_session(ctx.state, params, ctx.base_url)


@routes.post("/v1/checkout/sessions/{id}/expire")
@acts_on(RESOURCE, (), VIEW)
def expire_session(ctx: FakeContext, params: Params, session: Obj) -> None:
    """Expire an open session; emits checkout.session.expired."""
    checkout_sessions.expire_session(ctx.state, session)


@routes.get("/v1/checkout/sessions/{id}/line_items")
async def list_line_items(request: web.Request) -> web.Response:
    """The session's line items as a Stripe list."""
    ctx, params = context(request), await read_params(request)
    session = ctx.state.get(RESOURCE, request.match_info["id"])
    return stripe_json(_line_items_list(ctx.state, session, params))
