"""`/v1/prices`: create one-time prices (retrieve and list: `reads.py`)."""

from __future__ import annotations

from aiohttp import web

from .. import prices
from ..context import context
from ..forms import reject_unknown
from ..resources import PRICE
from ..wire import expand_paths, read_params, stripe_json

RESOURCE = PRICE
routes = web.RouteTableDef()


@routes.post("/v1/prices")
async def create_price(request: web.Request) -> web.Response:
    """Create a price of a stored product (`product`, `unit_amount`, `currency` required)."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(
        params,
        ("product", "unit_amount", "currency", "metadata", "nickname", "lookup_key", "recurring"),
    )
    price = prices.create_price(ctx.state, params)
    return stripe_json(ctx.state.expanded(price, expand_paths(params)))
