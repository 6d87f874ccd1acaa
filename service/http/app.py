"""The app factory: Sanic bound to `openapi.yaml`, one store, one Stripe gateway, one dispatcher.

What a request goes through once it arrives (authentication, rate limits, validation, the
envelope, the access log) is `service.http.pipeline`; this module builds the app and binds it."""

from __future__ import annotations

import asyncio
import json as stdlib_json
import uuid
from typing import Any

import orjson
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, raw

from ..context import App, AppContext, Services
from ..domain.catalogue import DEFAULT_PACKAGES
from ..flows.providers import ProviderCatalogue
from ..flows.public_catalogue import PublicCatalogue
from ..outbound.notify import WebhookDispatcher
from ..outbound.stripe_gateway import StripeGateway
from ..runtime.metrics import CONTENT_TYPE
from ..settings import Settings
from ..store import Store, open_store
from ..store.cached import CachedStore
from .api_reference import ApiReference, mount_docs_assets
from .auth import authenticate_admin
from .contract import Contract
from .pipeline import ServiceRequest, endpoint_for
from .pipeline import install as install_pipeline
from .rate_limits import RateLimiter
from .routes import OPERATION_HANDLERS
from .routes.registry import Handler

#: Routes served outside `openapi.yaml`: Prometheus scrapes text, not the plugin's JSON API.
OUTSIDE_CONTRACT = {"/metrics": "getMetrics"}


async def serve_metrics(request: Request) -> HTTPResponse:
    """`GET /metrics`, outside the contract: Prometheus text format, behind METRICS_TOKEN (or
    the admin token when it is unset)."""
    services: Services = request.app.ctx.services
    settings = services.settings
    authenticate_admin(request, settings.metrics_token or settings.admin_api_token)
    figures = {
        "outbox": await services.store.outbox_backlog(),
        "ledger": await services.store.count_ledger_entries(),
    }
    return raw(services.metrics.exposition(figures), content_type=CONTENT_TYPE)


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    name: str | None = None,
    contract: Contract | None = None,
    touchup: bool = True,
) -> App:
    """Build the service. `store` overrides the one the settings name.

    `touchup=False` turns off Sanic's start-up code rewriting, which breaks when several
    apps start in one process (tests do).
    """
    settings = settings or Settings.from_env()
    contract = contract or Contract.load()
    # Sites and packages are cached per worker, kept fresh through the store's version counters.
    store = CachedStore(store or open_store(settings))
    services = Services(
        settings=settings,
        store=store,
        contract=contract,
        stripe=StripeGateway(settings),
        providers=ProviderCatalogue.load(settings.providers_file),
        dispatcher=WebhookDispatcher(store, settings),
        reference=ApiReference.for_spec(contract.spec, page_enabled=settings.api_docs),
        rate_limiter=RateLimiter(store, settings.rate_limit_per_minute),
        catalogue=PublicCatalogue(store),
    )
    app: App = Sanic(
        name or "rakubun_dashboard",
        ctx=AppContext(services),
        dumps=dumps_json,
        configure_logging=False,
        request_class=ServiceRequest,
    )
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes
    # Sanic's ceiling (default 8 KB): the longest valid query string, percent-encoded, fits.
    app.config.REQUEST_MAX_HEADER_SIZE = 16_384
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.KEEP_ALIVE_TIMEOUT = 30
    app.config.TOUCHUP = touchup
    # Behind proxies, Sanic reads the client address from the headers these name.
    app.config.PROXIES_COUNT = settings.proxies_count
    app.config.REAL_IP_HEADER = settings.real_ip_header
    app.config.FORWARDED_SECRET = settings.forwarded_secret
    services.stripe.on_error = lambda code: services.metrics.stripe_errors.labels(code).inc()
    bind_operations(app, contract, OPERATION_HANDLERS)
    app.add_route(
        serve_metrics,
        "/metrics",
        methods=["GET"],
        name=OUTSIDE_CONTRACT["/metrics"],
        error_format="json",
    )
    if settings.api_docs:
        mount_docs_assets(app)
    install_pipeline(app, contract.operations)

    @app.before_server_start
    async def open_store_and_seed(app: App) -> None:
        await services.store.open()
        await services.store.seed_packages(DEFAULT_PACKAGES)

    @app.after_server_start
    async def start_rate_limit_writer(app: App) -> None:
        stop = app.ctx.rate_limits_stop = asyncio.Event()
        app.ctx.rate_limits_task = asyncio.create_task(services.rate_limiter.run(stop))

    @app.before_server_stop
    async def stop_rate_limit_writer(app: App) -> None:
        if app.ctx.rate_limits_stop is not None and app.ctx.rate_limits_task is not None:
            app.ctx.rate_limits_stop.set()
            await app.ctx.rate_limits_task

    @app.after_server_start
    async def start_dispatcher(app: App) -> None:
        # WEBHOOK_DISPATCH=0 leaves delivery to other workers or to the admin flush.
        if not settings.webhook_dispatch:
            return
        app.ctx.dispatcher_task = asyncio.create_task(services.dispatcher.run())

    @app.before_server_stop
    async def stop_dispatcher(app: App) -> None:
        services.dispatcher.stop()
        task = app.ctx.dispatcher_task
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=15)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()

    @app.after_server_stop
    async def close_store(app: App) -> None:
        await services.stripe.close()
        await services.store.close()

    return app


def dumps_json(value: Any, **_: Any) -> bytes:
    """Every JSON answer, encoded by orjson (compact UTF-8; several times faster than json);
    what orjson refuses (an int past 64 bits, a key that is not a string) goes to json."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return stdlib_json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def bind_operations(app: Sanic, contract: Contract, handlers: dict[str, Handler]) -> None:
    """Route every spec operation to its handler; refuse to start if they drift apart."""
    missing = contract.unbound_operations(handlers)
    extra = contract.unknown_handlers(handlers)
    if missing or extra:
        raise RuntimeError(
            f"spec and handlers drift: unbound={sorted(missing)} unknown={sorted(extra)}"
        )
    for op in contract.operations.values():
        # Every answer is JSON; naming the format spares Sanic parsing each handler's source.
        app.add_route(
            endpoint_for(op, handlers[op.operation_id]),
            op.sanic_uri,
            methods=[op.method],
            name=op.operation_id,
            error_format="json",
            unquote=True,
        )


def new_app_name() -> str:
    """A unique Sanic app name (Sanic keeps a registry of names per process)."""
    return "rakubun_" + uuid.uuid4().hex[:12]
