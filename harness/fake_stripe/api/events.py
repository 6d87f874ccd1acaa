"""`/v1/events`: every event the fake emitted, newest first."""

from __future__ import annotations

from fnmatch import fnmatchcase

from aiohttp import web

from ..context import context
from ..forms import get_list, get_str, reject_unknown
from ..pagination import LIST_PARAMS, paginate
from ..resources import EVENT
from ..wire import read_params, stripe_json

RESOURCE = EVENT
routes = web.RouteTableDef()


@routes.get("/v1/events/{id}")
async def retrieve_event(request: web.Request) -> web.Response:
    """Retrieve an event."""
    return stripe_json(context(request).state.get(RESOURCE.object, request.match_info["id"]))


@routes.get("/v1/events")
async def list_events(request: web.Request) -> web.Response:
    """List events newest first, filtered by `type` (wildcards like `charge.*`) or `types[]`."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, (*LIST_PARAMS, "type", "types"))
    events = ctx.state.newest_first(RESOURCE.object)
    wanted = {*get_list(params, "types")} | ({get_str(params, "type")} - {None})
    if wanted:
        events = [e for e in events if any(fnmatchcase(e["type"], w) for w in wanted)]
    return stripe_json(paginate(events, params, RESOURCE.url))
