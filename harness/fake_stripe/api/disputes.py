"""`/v1/disputes`: read-only; disputes are opened and closed through the control API."""

from __future__ import annotations

from aiohttp import web

from ..context import context
from ..forms import get_str, reject_unknown
from ..pagination import LIST_PARAMS, paginate
from ..resources import DISPUTE
from ..wire import expand_paths, read_params, stripe_json

RESOURCE = DISPUTE
routes = web.RouteTableDef()


@routes.get("/v1/disputes/{id}")
async def retrieve_dispute(request: web.Request) -> web.Response:
    """Retrieve a dispute (disputes are opened through the control API)."""
    ctx, params = context(request), await read_params(request)
    dispute = ctx.state.get(RESOURCE.object, request.match_info["id"])
    return stripe_json(ctx.state.expanded(dispute, expand_paths(params)))


@routes.get("/v1/disputes")
async def list_disputes(request: web.Request) -> web.Response:
    """List disputes newest first, optionally for one payment_intent or charge."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, (*LIST_PARAMS, "payment_intent", "charge"))
    disputes = ctx.state.newest_first(RESOURCE.object)
    for field in ("payment_intent", "charge"):
        wanted = get_str(params, field)
        if wanted is not None:
            disputes = [d for d in disputes if d[field] == wanted]
    return stripe_json(paginate(disputes, params, RESOURCE.url))
