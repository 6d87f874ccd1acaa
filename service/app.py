"""The app factory: Sanic bound to `openapi.yaml`, one store, one Stripe gateway, one dispatcher."""

from __future__ import annotations

import asyncio
import json as stdlib_json
import logging
import uuid
from typing import Any

import orjson
from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse, json, raw

from .api_reference import ApiReference, mount_docs_assets
from .auth import authenticate_admin, authenticate_plugin, enforce_rate_limit
from .context import App, AppContext, Services
from .contract import (
    Contract,
    Operation,
    check_header_text,
    check_path_text,
    parse_json_body,
    parse_query,
)
from .domain.catalogue import DEFAULT_PACKAGES
from .errors import (
    SANIC_ERROR_CODES,
    ApiError,
    ResponseContractViolation,
    UnsupportedMediaType,
    ValidationFailed,
    error_response,
)
from .metrics import CONTENT_TYPE
from .notify import WebhookDispatcher
from .observability import install as install_observability
from .providers import ProviderCatalogue
from .rate_limits import RateLimiter
from .routes import OPERATION_HANDLERS
from .routes.registry import Call, Handler
from .settings import Settings
from .store import Store, open_store
from .store.cached import CachedStore
from .stripe_gateway import StripeGateway

log = logging.getLogger("rakubun")

#: Public operations that are still rate-limited, per client address.
RATE_LIMITED_PUBLIC = {"registerPlugin", "getAuthDebug"}

#: Routes served outside `openapi.yaml`: Prometheus scrapes text, not the plugin's JSON API.
OUTSIDE_CONTRACT = {"/metrics": "getMetrics"}


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
    )
    app: App = Sanic(name or "rakubun_dashboard", ctx=AppContext(services), dumps=dumps_json)
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
    install_observability(app, settings, services.metrics.record_request)
    if settings.api_docs:
        mount_docs_assets(app)

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

    app.error_handler.add(Exception, handle_exception)
    return app


def dumps_json(value: Any, **_: Any) -> bytes:
    """Every JSON answer, encoded by orjson (compact UTF-8; several times faster than json);
    what orjson refuses (an int past 64 bits, a key that is not a string) goes to json."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return stdlib_json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def handle_exception(request: Request, exc: Exception) -> HTTPResponse:
    """Every failure answers in the envelope; nothing leaks a traceback or a secret."""
    if isinstance(exc, ApiError):
        return exc.to_response()
    if isinstance(exc, SanicException):
        status = getattr(exc, "status_code", 500) or 500
        code, message = SANIC_ERROR_CODES.get(status, ("error", "The request failed"))
        headers = dict(getattr(exc, "headers", {}) or {})
        if status == 405 and not any(name.lower() == "allow" for name in headers):
            # Sanic names the allowed methods of static paths only; the spec knows them all.
            contract: Contract = request.app.ctx.services.contract
            allowed = contract.allowed_methods(request.path)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        return error_response(status, code, message, headers=headers or None)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "An unexpected error occurred")


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


def endpoint_for(op: Operation, handler: Handler):  # noqa: ANN201 - a Sanic route
    async def endpoint(request: Request, **path: str) -> HTTPResponse:
        services: Services = request.app.ctx.services
        try:
            response = await _serve(op, handler, request, services, path)
        except ApiError as exc:
            response = _error_answer(op, exc, services)
        return response

    endpoint.__name__ = op.operation_id
    return endpoint


def _error_answer(op: Operation, exc: ApiError, services: Services) -> HTTPResponse:
    """The envelope of `exc`; with VALIDATE_RESPONSES, errors must be documented too."""
    if services.settings.validate_responses and exc.code != "response_contract_violation":
        body = {"success": False, "error": exc.code, "message": exc.message, **exc.extra}
        problems = op.response_errors(exc.status, body)
        if problems:
            log.error("error response breaks the contract: %s %s", op.operation_id, problems)
            return error_response(
                500,
                "response_contract_violation",
                f"{exc.status} {exc.code}: " + "; ".join(problems)[:450],
            )
    return exc.to_response()


async def _serve(
    op: Operation, handler: Handler, request: Request, services: Services, path: dict[str, str]
) -> HTTPResponse:
    # Text is checked once, here, before anything reads it: a header, path or query byte
    # that is not UTF-8 answers 400 before authentication, the store or Stripe see it.
    check_header_text(request.headers)
    check_path_text(request.path)
    query = parse_query(request.query_string)
    site = None
    if op.security == "plugin":
        site = await authenticate_plugin(request, services)
        request.ctx.site_id = site.site_id
        await enforce_rate_limit(services, f"site:{site.site_id}")
    elif op.security == "admin":
        authenticate_admin(request, services.settings.admin_api_token)
    elif op.security == "stripe":
        # The signature is checked on the raw bytes before anything else reads the body.
        services.stripe.verify_webhook(request.body or b"", request.headers.get("stripe-signature"))
    elif op.operation_id in RATE_LIMITED_PUBLIC:
        # remote_addr is the client the trusted proxies report (PROXIES_COUNT, REAL_IP_HEADER,
        # FORWARDED_SECRET); without proxies it is empty and the peer's address counts.
        await enforce_rate_limit(services, f"ip:{request.remote_addr or request.ip}")
    params = op.validate_parameters(query, path, request.headers)
    body = _read_body(op, request)
    reply = await handler(Call(request, services, params, body, site))
    if isinstance(reply, HTTPResponse):
        return _whole_answer(op, reply, services)
    status, data = reply if isinstance(reply, tuple) else (200, reply)
    if services.settings.validate_responses:
        problems = op.response_errors(status, data)
        if problems:
            log.error("response breaks the contract: %s %s", op.operation_id, problems)
            raise ResponseContractViolation("; ".join(problems)[:500])
    return json(data, status=status)


def _whole_answer(op: Operation, response: HTTPResponse, services: Services) -> HTTPResponse:
    """A document answered as it is (the contract as YAML, a page): its status and media type
    must be documented too."""
    if services.settings.validate_responses:
        problems = op.media_errors(response.status, response.content_type, response.body or b"")
        if problems:
            log.error("response breaks the contract: %s %s", op.operation_id, problems)
            raise ResponseContractViolation("; ".join(problems)[:500])
    return response


def _read_body(op: Operation, request: Request) -> Any:
    if op.body_validator is None:
        return None
    raw = request.body or b""
    if not raw.strip():
        if op.body_required:
            # An absent body lacks every required field: name them as for `{}`.
            op.validate_body({})
            raise ValidationFailed("body: a JSON body is required")
        return None
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType()
    body = parse_json_body(raw)
    op.validate_body(body)
    return body


async def serve_metrics(request: Request) -> HTTPResponse:
    """Prometheus text format, behind METRICS_TOKEN (or the admin token when it is unset)."""
    services: Services = request.app.ctx.services
    settings = services.settings
    authenticate_admin(request, settings.metrics_token or settings.admin_api_token)
    figures = {
        "outbox": await services.store.outbox_backlog(),
        "ledger": await services.store.count_ledger_entries(),
    }
    return raw(services.metrics.exposition(figures), content_type=CONTENT_TYPE)


def new_app_name() -> str:
    """A unique Sanic app name (Sanic keeps a registry of names per process)."""
    return "rakubun_" + uuid.uuid4().hex[:12]
