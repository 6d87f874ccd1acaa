"""`/v1/prices`: create one-time prices (retrieve and list: `reads.py`)."""

from __future__ import annotations

from aiohttp import web

from .. import prices
from ..context import FakeContext
from ..resources import PRICE
from .writes import Obj, Params, creates

RESOURCE = PRICE
routes = web.RouteTableDef()


@routes.post("/v1/prices")
@creates(("product", "unit_amount", "currency", "metadata", "nickname", "lookup_key", "recurring"))
def create_price(ctx: FakeContext, params: Params) -> Obj:
    """Create a price of a stored product (`product`, `unit_amount`, `currency` required)."""
    return prices.create_price(ctx.state, params)
