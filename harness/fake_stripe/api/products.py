"""`/v1/products`: create (retrieve and list: `reads.py`)."""

from __future__ import annotations

from aiohttp import web

from .. import products
from ..context import FakeContext
from ..resources import PRODUCT
from .writes import Obj, Params, creates

RESOURCE = PRODUCT
routes = web.RouteTableDef()


@routes.post("/v1/products")
@creates(("name", "description", "metadata", "active"))
def create_product(ctx: FakeContext, params: Params) -> Obj:
    """Create a product (`name` required)."""
    return products.create_product(ctx.state, params)
