"""`/v1/customers`: create, update (retrieve and list: `reads.py`)."""

from __future__ import annotations

from aiohttp import web

from .. import customers
from ..context import context
from ..forms import reject_unknown
from ..resources import CUSTOMER
from ..wire import expand_paths, read_params, stripe_json

RESOURCE = CUSTOMER
routes = web.RouteTableDef()
FIELDS = ("description", "email", "name", "phone", "metadata")


@routes.post("/v1/customers")
async def create_customer(request: web.Request) -> web.Response:
    """Create a customer."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, FIELDS)
    customer = customers.create_customer(ctx.state, params)
    return stripe_json(ctx.state.expanded(customer, expand_paths(params)))


@routes.post("/v1/customers/{id}")
async def update_customer(request: web.Request) -> web.Response:
    """Update a customer's fields; metadata keys merge."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, FIELDS)
    customer = ctx.state.get(RESOURCE, request.match_info["id"])
    customers.update_customer(ctx.state, customer, params)
    return stripe_json(ctx.state.expanded(customer, expand_paths(params)))
