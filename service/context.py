"""The app's typed context: what handlers share, on `app.ctx`, typed wherever it is used.

Its own module so that routes, auth and the payment flows name `Services` without
importing the app factory.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sanic import Sanic
from sanic.config import Config

from .flows.providers import ProviderCatalogue
from .flows.public_catalogue import PublicCatalogue
from .http.api_reference import ApiReference
from .http.contract import Contract
from .http.rate_limits import RateLimiter
from .outbound.notify import WebhookDispatcher
from .outbound.stripe_gateway import StripeGateway
from .runtime.metrics import Metrics
from .settings import Settings
from .store.cached import CachedStore


@dataclass
class Services:
    """What handlers share, kept on `app.ctx.services` (no module-level connections)."""

    settings: Settings
    store: CachedStore
    contract: Contract
    stripe: StripeGateway
    providers: ProviderCatalogue
    dispatcher: WebhookDispatcher
    reference: ApiReference
    rate_limiter: RateLimiter
    catalogue: PublicCatalogue
    metrics: Metrics = field(default_factory=Metrics)


@dataclass
class AppContext:
    """`app.ctx`: the shared services, and the background tasks the listeners start and stop."""

    services: Services
    rate_limits_stop: asyncio.Event | None = None
    rate_limits_task: asyncio.Task[None] | None = None
    dispatcher_task: asyncio.Task[None] | None = None


#: The service's Sanic app, with its context typed.
App = Sanic[Config, AppContext]
