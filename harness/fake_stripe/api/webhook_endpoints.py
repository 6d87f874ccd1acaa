"""`/v1/webhook_endpoints`: create (answers the `whsec_` secret), update, delete (retrieve and
list: `reads.py`, without the secret, as Stripe)."""

from __future__ import annotations

from aiohttp import web

from .. import objects, webhook_endpoints
from ..context import context
from ..forms import get_bool, get_list, get_metadata, get_str, reject_unknown
from ..resources import WEBHOOK_ENDPOINT
from ..wire import read_params, stripe_json

RESOURCE = WEBHOOK_ENDPOINT
routes = web.RouteTableDef()


@routes.post("/v1/webhook_endpoints")
async def create_endpoint(request: web.Request) -> web.Response:
    """Register an endpoint; the response (only this one) includes its signing secret."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ("url", "enabled_events", "description", "metadata", "api_version"))
    endpoint = webhook_endpoints.create_endpoint(
        ctx.state,
        get_str(params, "url", required=True) or "",
        [str(e) for e in get_list(params, "enabled_events")],
        description=get_str(params, "description"),
        metadata=get_metadata(params),
    )
    return stripe_json(endpoint)


@routes.post("/v1/webhook_endpoints/{id}")
async def update_endpoint(request: web.Request) -> web.Response:
    """Update url, enabled_events or `disabled`."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ("url", "enabled_events", "disabled", "description", "metadata"))
    endpoint = ctx.state.get(RESOURCE, request.match_info["id"])
    webhook_endpoints.update_endpoint(
        ctx.state,
        endpoint,
        url=get_str(params, "url"),
        enabled_events=[str(e) for e in get_list(params, "enabled_events")],
        disabled=get_bool(params, "disabled") if "disabled" in params else None,
    )
    return stripe_json(endpoint)


@routes.delete("/v1/webhook_endpoints/{id}")
async def delete_endpoint(request: web.Request) -> web.Response:
    """Delete an endpoint; later events are no longer sent to it."""
    ctx = context(request)
    endpoint = ctx.state.remove(RESOURCE, request.match_info["id"])
    ctx.state.webhook_secrets.pop(endpoint["id"], None)
    return stripe_json(objects.deleted(endpoint))
