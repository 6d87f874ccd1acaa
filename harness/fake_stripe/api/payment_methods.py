"""`/v1/payment_methods`: create (Stripe.js does, with the publishable key) and attach;
retrieve and list come from the resource's declaration. Stripe's test ids such as
`pm_card_visa` are not stored, yet intents take them."""

from __future__ import annotations

from aiohttp import web

from .. import payment_methods
from ..context import FakeContext
from ..forms import get_str
from ..resources import PAYMENT_METHOD
from .writes import Obj, Params, acts_on, creates

RESOURCE = PAYMENT_METHOD
routes = web.RouteTableDef()


@routes.post("/v1/payment_methods")
@creates(("type", "billing_details", "metadata", "key", *payment_methods.TYPES))
def create_payment_method(ctx: FakeContext, params: Params) -> Obj:
    """Create a card (`card[number]`: a test card, or `card[token]`: a test token; 402 for
    any other number), SEPA debit (`sepa_debit[iban]`) or customer balance PaymentMethod."""
    return payment_methods.create_payment_method(ctx.state, params)


@routes.post("/v1/payment_methods/{id}/attach")
@acts_on(RESOURCE, ("customer",))
def attach(ctx: FakeContext, params: Params, method: Obj) -> None:
    """Attach to a customer."""
    customer = get_str(params, "customer", required=True) or ""
    payment_methods.attach(ctx.state, method, customer)
