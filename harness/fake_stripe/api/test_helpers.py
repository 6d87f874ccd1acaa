"""`/v1/test_helpers/...`: Stripe's test-mode helpers that make things happen (a bank transfer
arriving), outside any resource's own path."""

from __future__ import annotations

from aiohttp import web

from .. import customers
from ..context import context
from ..forms import reject_unknown
from ..resources import CUSTOMER
from ..wire import read_params, stripe_json

routes = web.RouteTableDef()


@routes.post("/v1/test_helpers/customers/{id}/fund_cash_balance")
async def fund_cash_balance(request: web.Request) -> web.Response:
    """A test bank transfer to the customer's cash balance; pays their waiting intents."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ("amount", "currency", "reference"))
    customer = ctx.state.get(CUSTOMER, request.match_info["id"])
    return stripe_json(customers.fund_cash_balance(ctx.state, customer, params))
