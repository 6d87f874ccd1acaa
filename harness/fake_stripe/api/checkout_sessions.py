"""`/v1/checkout/sessions`: create, retrieve, list, expire, line items."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import checkout_sessions
from ..context import FakeContext, context
from ..forms import get_str, reject_unknown
from ..pagination import LIST_PARAMS, paginate
from ..resources import CHECKOUT_SESSION
from ..wire import expand_paths, read_params, stripe_json

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


def render(ctx: FakeContext, session: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    """The session as the API returns it, with `expand[]=line_items` and id expansions."""
    out = ctx.state.expanded(session, [p for p in expand if p != "line_items"])
    if "line_items" in expand:
        out["line_items"] = _line_items_list(ctx, session, {})
    return out


def _line_items_list(ctx: FakeContext, session: dict[str, Any], params: dict[str, Any]) -> dict:
    url = f"{RESOURCE.url}/{session['id']}/line_items"
    return paginate(checkout_sessions.line_items(ctx.state, session), params, url)


@routes.post("/v1/checkout/sessions")
async def create_session(request: web.Request) -> web.Response:
    """Create a Checkout Session whose `url` is the fake's hosted payment page."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, CREATE_PARAMS)
    session = checkout_sessions.create_session(ctx.state, params, ctx.base_url)
    return stripe_json(render(ctx, session, expand_paths(params)))


@routes.get("/v1/checkout/sessions/{id}")
async def retrieve_session(request: web.Request) -> web.Response:
    """Retrieve a session (expiring it first if its time has passed)."""
    ctx, params = context(request), await read_params(request)
    session = ctx.state.get(RESOURCE.object, request.match_info["id"])
    checkout_sessions.expire_if_due(ctx.state, session)
    return stripe_json(render(ctx, session, expand_paths(params)))


@routes.get("/v1/checkout/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    """List sessions newest first, optionally filtered by status or payment_intent."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, (*LIST_PARAMS, "status", "payment_intent"))
    stored = ctx.state.newest_first(RESOURCE.object)
    sessions = [checkout_sessions.expire_if_due(ctx.state, s) for s in stored]
    for field in ("status", "payment_intent"):
        wanted = get_str(params, field)
        if wanted is not None:
            sessions = [s for s in sessions if s[field] == wanted]
    expand = [p.removeprefix("data.") for p in expand_paths(params)]
    page = paginate(sessions, params, RESOURCE.url, lambda s: render(ctx, s, expand))
    return stripe_json(page)


@routes.post("/v1/checkout/sessions/{id}/expire")
async def expire_session(request: web.Request) -> web.Response:
    """Expire an open session; emits checkout.session.expired."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ())
    session = ctx.state.get(RESOURCE.object, request.match_info["id"])
    checkout_sessions.expire_session(ctx.state, session)
    return stripe_json(render(ctx, session, expand_paths(params)))


@routes.get("/v1/checkout/sessions/{id}/line_items")
async def list_line_items(request: web.Request) -> web.Response:
    """The session's line items as a Stripe list."""
    ctx, params = context(request), await read_params(request)
    session = ctx.state.get(RESOURCE.object, request.match_info["id"])
    return stripe_json(_line_items_list(ctx, session, params))
