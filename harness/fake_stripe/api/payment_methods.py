"""`/v1/payment_methods`: create (Stripe.js does, with the publishable key) and retrieve."""

from __future__ import annotations

from aiohttp import web

from .. import payment_methods
from ..context import context
from ..forms import reject_unknown
from ..resources import PAYMENT_METHOD
from ..wire import read_params, stripe_json

RESOURCE = PAYMENT_METHOD
routes = web.RouteTableDef()


@routes.post("/v1/payment_methods")
async def create_payment_method(request: web.Request) -> web.Response:
    """A card PaymentMethod from one of Stripe's test card numbers (402 for any other)."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ("type", "card", "billing_details", "metadata", "key"))
    return stripe_json(payment_methods.create_payment_method(ctx.state, params))


@routes.get("/v1/payment_methods/{id}")
async def retrieve_payment_method(request: web.Request) -> web.Response:
    """A stored PaymentMethod (Stripe's test ids such as `pm_card_visa` are not stored)."""
    ctx = context(request)
    return stripe_json(ctx.state.get(RESOURCE.object, request.match_info["id"]))
