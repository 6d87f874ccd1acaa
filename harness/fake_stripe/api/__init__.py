"""The Stripe API surface under `/v1`.

Invariant: every served resource's retrieve and list routes come from its declaration in
`resources.py` (`reads.py`); a module here, named after a resource's path, holds only that
resource's other routes (create, update, actions, shaped by `writes.py`) and may give it a
`VIEW` for reading; the few routes outside any resource's path are in `UNDECLARED` modules.
"""

from __future__ import annotations

from aiohttp import web

from ..resources import SERVED
from . import (
    checkout_sessions,
    customers,
    disputes,
    payment_intents,
    payment_methods,
    payment_pages,
    prices,
    products,
    refunds,
    test_helpers,
    webhook_endpoints,
)
from .reads import PLAIN, read_routes

_WRITES = (
    checkout_sessions,
    customers,
    disputes,
    payment_intents,
    payment_methods,
    prices,
    products,
    refunds,
    webhook_endpoints,
)
#: Routes outside every resource's path: Checkout's payment pages, Stripe's test helpers.
UNDECLARED = (payment_pages, test_helpers)
_VIEWS = {checkout_sessions.RESOURCE: checkout_sessions.VIEW}


def add_api_routes(app: web.Application) -> None:
    """Register every `/v1` route on `app`."""
    for resource in SERVED:
        app.router.add_routes(read_routes(resource, _VIEWS.get(resource, PLAIN)))
    for module in (*_WRITES, *UNDECLARED):
        app.router.add_routes(module.routes)
