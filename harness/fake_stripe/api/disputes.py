"""`/v1/disputes`: update (metadata) and close (accept) (retrieve and list: `reads.py`)."""

from __future__ import annotations

from aiohttp import web

from .. import disputes
from ..context import context
from ..forms import get_metadata, reject_unknown
from ..resources import DISPUTE
from ..wire import expand_paths, read_params, stripe_json

RESOURCE = DISPUTE
routes = web.RouteTableDef()


@routes.post("/v1/disputes/{id}")
async def update_dispute(request: web.Request) -> web.Response:
    """Merge metadata into an open dispute; emits charge.dispute.updated."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ("metadata",))
    dispute = ctx.state.get(RESOURCE, request.match_info["id"])
    disputes.update_dispute(ctx.state, dispute, get_metadata(params))
    return stripe_json(ctx.state.expanded(dispute, expand_paths(params)))


@routes.post("/v1/disputes/{id}/close")
async def close_dispute(request: web.Request) -> web.Response:
    """Accept the dispute: an inquiry closes, a dispute is lost; emits charge.dispute.closed."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ())
    dispute = ctx.state.get(RESOURCE, request.match_info["id"])
    disputes.accept_dispute(ctx.state, dispute)
    return stripe_json(ctx.state.expanded(dispute, expand_paths(params)))
