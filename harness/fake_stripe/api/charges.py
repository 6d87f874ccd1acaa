"""`/v1/charges` and `/v1/disputes`: read-only views of money already moved."""

from __future__ import annotations

from aiohttp import web

from ..context import context
from ..forms import get_str, reject_unknown
from ..pagination import LIST_PARAMS, paginate
from ..wire import expand_paths, read_params, stripe_json

routes = web.RouteTableDef()


@routes.get("/v1/charges/{id}")
async def retrieve_charge(request: web.Request) -> web.Response:
    """Retrieve a charge."""
    ctx, params = context(request), await read_params(request)
    charge = ctx.store.get("charge", request.match_info["id"])
    return stripe_json(ctx.store.expanded(charge, expand_paths(params)))


@routes.get("/v1/charges")
async def list_charges(request: web.Request) -> web.Response:
    """List charges newest first, optionally for one payment_intent."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, (*LIST_PARAMS, "payment_intent"))
    charges = ctx.store.newest_first("charge")
    wanted = get_str(params, "payment_intent")
    if wanted is not None:
        charges = [c for c in charges if c["payment_intent"] == wanted]
    return stripe_json(paginate(charges, params, "/v1/charges"))


@routes.get("/v1/disputes/{id}")
async def retrieve_dispute(request: web.Request) -> web.Response:
    """Retrieve a dispute (disputes are opened through the control API)."""
    ctx, params = context(request), await read_params(request)
    dispute = ctx.store.get("dispute", request.match_info["id"])
    return stripe_json(ctx.store.expanded(dispute, expand_paths(params)))


@routes.get("/v1/disputes")
async def list_disputes(request: web.Request) -> web.Response:
    """List disputes newest first, optionally for one payment_intent or charge."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, (*LIST_PARAMS, "payment_intent", "charge"))
    disputes = ctx.store.newest_first("dispute")
    for field in ("payment_intent", "charge"):
        wanted = get_str(params, field)
        if wanted is not None:
            disputes = [d for d in disputes if d[field] == wanted]
    return stripe_json(paginate(disputes, params, "/v1/disputes"))
