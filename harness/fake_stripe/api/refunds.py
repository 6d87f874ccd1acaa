"""`/v1/refunds`: refund a PaymentIntent's or a charge's money (retrieve and list: `reads.py`)."""

from __future__ import annotations

from aiohttp import web

from .. import charges, refunds
from ..context import context
from ..errors import invalid_request
from ..forms import get_int, get_metadata, get_str, reject_unknown
from ..resources import CHARGE, PAYMENT_INTENT, REFUND
from ..wire import expand_paths, read_params, stripe_json

RESOURCE = REFUND
routes = web.RouteTableDef()


@routes.post("/v1/refunds")
async def create_refund(request: web.Request) -> web.Response:
    """Refund `amount` (default: what remains) of a payment_intent or charge."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ("payment_intent", "charge", "amount", "reason", "metadata"))
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
    refund = refunds.refund_charge(
        ctx.state,
        charge,
        get_int(params, "amount"),
        reason=get_str(params, "reason"),
        metadata=get_metadata(params),
    )
    return stripe_json(ctx.state.expanded(refund, expand_paths(params)))


@routes.post("/v1/refunds/{id}")
async def update_refund(request: web.Request) -> web.Response:
    """Merge metadata into a refund; emits charge.refund.updated and refund.updated."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ("metadata",))
    refund = ctx.state.get(RESOURCE, request.match_info["id"])
    refunds.update_refund(ctx.state, refund, get_metadata(params))
    return stripe_json(ctx.state.expanded(refund, expand_paths(params)))
