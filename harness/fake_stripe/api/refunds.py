"""`/v1/refunds`: refund a PaymentIntent's or a charge's money (retrieve and list: `reads.py`)."""

from __future__ import annotations

from aiohttp import web

from .. import charges, refunds
from ..context import FakeContext
from ..errors import invalid_request
from ..forms import get_int, get_metadata, get_str
from ..resources import CHARGE, PAYMENT_INTENT, REFUND
from .writes import Obj, Params, acts_on, creates

RESOURCE = REFUND
routes = web.RouteTableDef()


@routes.post("/v1/refunds")
@creates(("payment_intent", "charge", "amount", "reason", "metadata"))
def create_refund(ctx: FakeContext, params: Params) -> Obj:
    """Refund `amount` (default: what remains) of a payment_intent or charge."""
    intent_id, charge_id = get_str(params, "payment_intent"), get_str(params, "charge")
    if intent_id:
        intent = ctx.state.get(PAYMENT_INTENT, intent_id, param="payment_intent")
        charge = charges.charge_of_intent(ctx.state, intent)
    elif charge_id:
        charge = ctx.state.get(CHARGE, charge_id, param="charge")
    else:
        raise invalid_request(
            "One of the following params should be provided for this request: "
            "payment_intent or charge."
        )
    return refunds.refund_charge(
        ctx.state,
        charge,
        get_int(params, "amount"),
        reason=get_str(params, "reason"),
        metadata=get_metadata(params),
    )


@routes.post("/v1/refunds/{id}")
@acts_on(RESOURCE, ("metadata",))
def update_refund(ctx: FakeContext, params: Params, refund: Obj) -> None:
    """Merge metadata into a refund; emits charge.refund.updated and refund.updated."""
    refunds.update_refund(ctx.state, refund, get_metadata(params))
