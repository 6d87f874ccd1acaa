"""`/v1/payment_pages/{session id}`: the hosted Checkout page's own API (not in Stripe's public
reference; `stripe trigger checkout.session.*` pays through it)."""

from __future__ import annotations

from aiohttp import web

from .. import payment_pages
from ..context import context
from ..forms import get_int, get_str, reject_unknown
from ..resources import CHECKOUT_SESSION
from ..wire import read_params, stripe_json

routes = web.RouteTableDef()


@routes.get("/v1/payment_pages/{id}")
async def get_page(request: web.Request) -> web.Response:
    """The session as its payment page shows it."""
    ctx = context(request)
    session = ctx.state.get(CHECKOUT_SESSION, request.match_info["id"])
    return stripe_json(payment_pages.page(session))


@routes.post("/v1/payment_pages/{id}/confirm")
async def confirm(request: web.Request) -> web.Response:
    """Pay the session with `payment_method`; `expected_amount` must be the session's total."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ("payment_method", "expected_amount"))
    session = ctx.state.get(CHECKOUT_SESSION, request.match_info["id"])
    payment_method = get_str(params, "payment_method", required=True) or ""
    payment_pages.confirm(ctx.state, session, payment_method, get_int(params, "expected_amount"))
    return stripe_json(payment_pages.page(session))
