"""`/v1/products`: create (retrieve and list: `reads.py`)."""

from __future__ import annotations

from aiohttp import web

from .. import products
from ..context import context
from ..forms import reject_unknown
from ..resources import PRODUCT
from ..wire import expand_paths, read_params, stripe_json

RESOURCE = PRODUCT
routes = web.RouteTableDef()


@routes.post("/v1/products")
async def create_product(request: web.Request) -> web.Response:
    """Create a product (`name` required)."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ("name", "description", "metadata", "active"))
    product = products.create_product(ctx.state, params)
    return stripe_json(ctx.state.expanded(product, expand_paths(params)))
