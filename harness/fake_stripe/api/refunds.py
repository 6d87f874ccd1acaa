"""`/v1/refunds`: refund a PaymentIntent's or a charge's money, and retrieve refunds."""

from __future__ import annotations

from aiohttp import web

from .. import charges, refunds
from ..context import context
from ..errors import invalid_request
from ..forms import get_int, get_metadata, get_str, reject_unknown
from ..pagination import LIST_PARAMS, paginate
from ..resources import REFUND
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
        intent = ctx.state.get("payment_intent", intent_id, param="payment_intent")
        charge = charges.charge_of_intent(ctx.state, intent)
    elif charge_id:
        charge = ctx.state.get("charge", charge_id, param="charge")
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


@routes.get("/v1/refunds/{id}")
async def retrieve_refund(request: web.Request) -> web.Response:
    """Retrieve a refund."""
    ctx, params = context(request), await read_params(request)
    refund = ctx.state.get(RESOURCE.object, request.match_info["id"])
    return stripe_json(ctx.state.expanded(refund, expand_paths(params)))


@routes.get("/v1/refunds")
async def list_refunds(request: web.Request) -> web.Response:
    """List refunds newest first, optionally for one payment_intent or charge."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, (*LIST_PARAMS, "payment_intent", "charge"))
    listed = ctx.state.newest_first(RESOURCE.object)
    for field in ("payment_intent", "charge"):
        wanted = get_str(params, field)
        if wanted is not None:
            listed = [r for r in listed if r[field] == wanted]
    return stripe_json(paginate(listed, params, RESOURCE.url))
