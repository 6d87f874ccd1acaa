"""`/v1/payment_methods`: create (Stripe.js does, with the publishable key); retrieve and list
come from the resource's declaration."""

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
