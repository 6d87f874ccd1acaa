"""`/v1/customers`: create, update (retrieve and list: `reads.py`)."""

from __future__ import annotations

from aiohttp import web

from .. import customers
from ..context import FakeContext
from ..resources import CUSTOMER
from .writes import Obj, Params, acts_on, creates

RESOURCE = CUSTOMER
routes = web.RouteTableDef()
FIELDS = ("description", "email", "name", "phone", "metadata")


@routes.post("/v1/customers")
@creates(FIELDS)
def create_customer(ctx: FakeContext, params: Params) -> Obj:
    """Create a customer."""
    return customers.create_customer(ctx.state, params)


@routes.post("/v1/customers/{id}")
@acts_on(RESOURCE, FIELDS)
def update_customer(ctx: FakeContext, params: Params, customer: Obj) -> None:
    """Update a customer's fields; metadata keys merge."""
    customers.update_customer(ctx.state, customer, params)
