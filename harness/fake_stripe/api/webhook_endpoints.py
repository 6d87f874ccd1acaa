"""`/v1/webhook_endpoints`: create (answers the `whsec_` secret), update, delete (retrieve and
list: `reads.py`, without the secret, as Stripe)."""

from __future__ import annotations

from aiohttp import web

from .. import objects, webhook_endpoints
from ..context import FakeContext, context
from ..forms import get_bool, get_list, get_metadata, get_str
from ..resources import WEBHOOK_ENDPOINT
from ..wire import stripe_json
from .writes import Obj, Params, acts_on, creates

RESOURCE = WEBHOOK_ENDPOINT
routes = web.RouteTableDef()


@routes.post("/v1/webhook_endpoints")
@creates(("url", "enabled_events", "description", "metadata", "api_version"))
def create_endpoint(ctx: FakeContext, params: Params) -> Obj:
    """Register an endpoint; the response (only this one) includes its signing secret."""
    return webhook_endpoints.create_endpoint(
        ctx.state,
        get_str(params, "url", required=True) or "",
        [str(e) for e in get_list(params, "enabled_events")],
        description=get_str(params, "description"),
        metadata=get_metadata(params),
    )


@routes.post("/v1/webhook_endpoints/{id}")
@acts_on(RESOURCE, ("url", "enabled_events", "disabled", "description", "metadata"))
def update_endpoint(ctx: FakeContext, params: Params, endpoint: Obj) -> None:
    """Update url, enabled_events or `disabled`."""
    webhook_endpoints.update_endpoint(
        ctx.state,
        endpoint,
        url=get_str(params, "url"),
        enabled_events=[str(e) for e in get_list(params, "enabled_events")],
        disabled=get_bool(params, "disabled") if "disabled" in params else None,
    )


@routes.delete("/v1/webhook_endpoints/{id}")
async def delete_endpoint(request: web.Request) -> web.Response:
    """Delete an endpoint; later events are no longer sent to it."""
    ctx = context(request)
    endpoint = ctx.state.remove(RESOURCE, request.match_info["id"])
    ctx.state.webhook_secrets.pop(endpoint["id"], None)
    return stripe_json(objects.deleted(endpoint))
