"""`/v1/disputes`: update (metadata) and close (accept) (retrieve and list: `reads.py`)."""

from __future__ import annotations

from aiohttp import web

from .. import disputes
from ..context import FakeContext
from ..forms import get_metadata
from ..resources import DISPUTE
from .writes import Obj, Params, acts_on

RESOURCE = DISPUTE
routes = web.RouteTableDef()


@routes.post("/v1/disputes/{id}")
@acts_on(RESOURCE, ("metadata",))
def update_dispute(ctx: FakeContext, params: Params, dispute: Obj) -> None:
    """Merge metadata into an open dispute; emits charge.dispute.updated."""
    disputes.update_dispute(ctx.state, dispute, get_metadata(params))


@routes.post("/v1/disputes/{id}/close")
@acts_on(RESOURCE, ())
def close_dispute(ctx: FakeContext, params: Params, dispute: Obj) -> None:
    """Accept the dispute: an inquiry closes, a dispute is lost; emits charge.dispute.closed."""
    disputes.accept_dispute(ctx.state, dispute)
