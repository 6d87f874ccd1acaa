"""`/v1/charges`: read-only views of money already moved."""

from __future__ import annotations

from aiohttp import web

from ..context import context
from ..forms import get_str, reject_unknown
from ..pagination import LIST_PARAMS, paginate
from ..resources import CHARGE
from ..wire import expand_paths, read_params, stripe_json

RESOURCE = CHARGE
routes = web.RouteTableDef()


@routes.get("/v1/charges/{id}")
async def retrieve_charge(request: web.Request) -> web.Response:
    """Retrieve a charge."""
    ctx, params = context(request), await read_params(request)
    charge = ctx.state.get(RESOURCE.object, request.match_info["id"])
    return stripe_json(ctx.state.expanded(charge, expand_paths(params)))


@routes.get("/v1/charges")
async def list_charges(request: web.Request) -> web.Response:
    """List charges newest first, optionally for one payment_intent."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, (*LIST_PARAMS, "payment_intent"))
    charges = ctx.state.newest_first(RESOURCE.object)
    wanted = get_str(params, "payment_intent")
    if wanted is not None:
        charges = [c for c in charges if c["payment_intent"] == wanted]
    return stripe_json(paginate(charges, params, RESOURCE.url))
