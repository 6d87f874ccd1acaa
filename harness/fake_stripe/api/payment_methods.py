"""`/v1/payment_methods`: create (Stripe.js does, with the publishable key) and attach;
retrieve and list come from the resource's declaration. Stripe's test ids such as
`pm_card_visa` are not stored, yet intents take them."""

from __future__ import annotations

from aiohttp import web

from .. import payment_methods
from ..context import context
from ..forms import get_str, reject_unknown
from ..resources import PAYMENT_METHOD
from ..wire import expand_paths, read_params, stripe_json

RESOURCE = PAYMENT_METHOD
routes = web.RouteTableDef()


@routes.post("/v1/payment_methods")
async def create_payment_method(request: web.Request) -> web.Response:
    """Create a card (`card[number]`: a test card, or `card[token]`: a test token; 402 for
    any other number), SEPA debit (`sepa_debit[iban]`) or customer balance PaymentMethod."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ("type", "billing_details", "metadata", "key", *payment_methods.TYPES))
    method = payment_methods.create_payment_method(ctx.state, params)
    return stripe_json(ctx.state.expanded(method, expand_paths(params)))


@routes.post("/v1/payment_methods/{id}/attach")
async def attach(request: web.Request) -> web.Response:
    """Attach to a customer."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ("customer",))
    method = ctx.state.get(RESOURCE, request.match_info["id"])
    customer = get_str(params, "customer", required=True) or ""
    payment_methods.attach(ctx.state, method, customer)
    return stripe_json(ctx.state.expanded(method, expand_paths(params)))
