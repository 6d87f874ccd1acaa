"""The Stripe API surface under `/v1`, one module per Stripe resource."""

from __future__ import annotations

from aiohttp import web

from . import (
    charges,
    checkout_sessions,
    disputes,
    events,
    payment_intents,
    payment_methods,
    refunds,
    webhook_endpoints,
)

ROUTE_TABLES = (
    checkout_sessions.routes,
    payment_intents.routes,
    payment_methods.routes,
    refunds.routes,
    charges.routes,
    disputes.routes,
    events.routes,
    webhook_endpoints.routes,
)


def add_api_routes(app: web.Application) -> None:
    """Register every `/v1` route on `app`."""
    for table in ROUTE_TABLES:
        app.router.add_routes(table)
