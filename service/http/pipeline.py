"""The request pipeline: what happens to a request, in the order it happens.

1. `begin_request` (every request): its request id and its clock start.
2. `endpoint_for(op, handler)` is the route of one spec operation; `serve` runs, in order:
   text checks, authentication (as `op.security` says), the rate limit (per site, or per
   client address where the spec marks the operation `x-rate-limit: per-client`), parameter
   and body validation, the handler, and the answer (checked against the spec under
   VALIDATE_RESPONSES).
3. An `ApiError` on the way answers its envelope (`error_answer`: under VALIDATE_RESPONSES the
   error must be documented for the operation too); a store that does not answer
   (`StoreUnavailableError`, raised by the adapters) answers 503 `store_unavailable` with
   `Retry-After` (`store_unavailable`); anything else, and what Sanic refuses
   itself (404, 405, 413, a request target with a control byte: see `ServiceRequest`),
   answers the envelope through `handle_exception`.
4. `finish_request` (every answer, errors included): echoes the request id, records the
   metrics and writes the access line.

Steps 1 and 4 cover every answer, but they are not the app's middleware: Sanic's middleware
machinery costs a read several microseconds. An operation's route runs them itself; what Sanic
answers through `handle_exception` (404, 405, 413, an exception out of a handler) is finished
there; and the routes outside the contract (`/metrics`, the reference page's files) get them as
route middleware. `install` puts steps 1, 3 and 4 on the app once every route is added; the
factory (`service.http.app`) binds each operation with `endpoint_for`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any
from urllib.parse import quote_from_bytes

from sanic.exceptions import BadRequest, SanicException
from sanic.request import Request
from sanic.response import BaseHTTPResponse, HTTPResponse

from ..context import App, Services
from ..domain.models import Site
from ..errors import (
    SANIC_ERROR_CODES,
    ApiError,
    InvalidEvent,
    InvalidJson,
    InvalidRequest,
    ResponseContractViolation,
    StoreUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
    error_response,
)
from ..runtime.observability import (
    REQUEST_ID_HEADER,
    AccessLine,
    current_request_id,
    request_id_for,
    write_access_line,
)
from ..store.base import StoreUnavailableError
from .answers import json_answer
from .auth import authenticate_admin, authenticate_plugin
from .contract import (
    Contract,
    Operation,
    check_header_text,
    check_path_text,
    parse_json_body,
    parse_query,
)
from .routes.registry import Call, Handler, Reply

log = logging.getLogger("rakubun")

#: The route Sanic calls for one operation (path parameters as keyword arguments).
Endpoint = Callable[..., Coroutine[Any, Any, HTTPResponse]]


def install(app: App, operations: Iterable[str]) -> None:
    """Put the steps every request goes through on `app`, operation or not: the request id
    and clock (1), the envelope of every failure (3), the metrics and access line (4). Call it
    once every route is added: the routes not named in `operations` get steps 1 and 4 as
    their own middleware (an operation's route runs them itself, see `endpoint_for`)."""
    app.error_handler.add(Exception, handle_exception)
    bound = {f"{app.name}.{name}" for name in operations}
    others = [route.name for route in app.router.routes if route.name not in bound]
    app.register_named_middleware(begin_request, others, "request")
    app.register_named_middleware(finish_request, others, "response")


# ---------------------------------------------------------------- 1. every request begins
class ServiceRequest(Request):
    """Sanic's request, with one repair: a request target the URL parser refuses (a control
    byte such as ESC) answers 400 in the envelope, logged once in the access line.

    Sanic answers a refused target from a stand-in request (method `NONE`) built from the same
    bytes, which its parser refused again: no answer, and a traceback with the raw bytes in
    the log. The stand-in takes the target with those bytes percent-encoded instead."""

    def __init__(self, url_bytes: bytes, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(url_bytes, *args, **kwargs)
        except BadRequest:
            if kwargs.get("method") != STAND_IN_METHOD:
                raise BadRequest("The request target is not a valid URL") from None
            super().__init__(_printable_target(url_bytes), *args, **kwargs)


#: The method Sanic gives the request it builds to answer one that could not be read.
STAND_IN_METHOD = "NONE"
#: The bytes a stand-in target keeps as they are: printable ASCII but `%`.
_KEPT_IN_TARGET = "".join(chr(c) for c in range(0x21, 0x7F) if c != ord("%"))


def _printable_target(url_bytes: bytes) -> bytes:
    return quote_from_bytes(url_bytes, safe=_KEPT_IN_TARGET).encode("ascii")


async def begin_request(request: Request) -> None:
    """Give the request its id (echoed on the answer, stamped on its log lines); start its clock."""
    _begin(request)


def _begin(request: Request) -> None:
    ctx = request.ctx
    ctx.request_id = request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
    ctx.started = time.perf_counter()
    ctx.finished = False
    current_request_id.set(request_id)


# ---------------------------------------------------------------- 2. an operation of the spec
def endpoint_for(op: Operation, handler: Handler) -> Endpoint:
    """The route of `op`: the pipeline around `handler`, every ApiError as its envelope."""

    async def endpoint(request: Request, **path: str) -> HTTPResponse:
        _begin(request)
        services: Services = request.app.ctx.services
        try:
            response = await serve(op, handler, request, services, path)
        except ApiError as exc:
            response = error_answer(op, exc, services)
        except StoreUnavailableError as exc:
            response = error_answer(op, store_unavailable(op.operation_id, exc), services)
        _finish(request, response, op.operation_id, services)
        return response

    endpoint.__name__ = op.operation_id
    return endpoint


async def serve(
    op: Operation, handler: Handler, request: Request, services: Services, path: dict[str, str]
) -> HTTPResponse:
    """One request of `op`, step by step; an ApiError stops it where it is raised."""
    # Text is checked once, here, before anything reads it: a header, path or query byte
    # that is not UTF-8 answers 400 before authentication, the store or Stripe see it.
    check_header_text(request.headers)
    check_path_text(request.path)
    query = parse_query(request.query_string)
    site = await _authenticate(op, request, services)
    await _limit_rate(op, request, services, site)
    params = op.validate_parameters(query, path, request.headers)
    body = _read_event(op, request) if op.security == "stripe" else _read_body(op, request)
    reply = await handler(Call(request, services, params, body, site))
    return _answer(op, reply, services)


async def _authenticate(op: Operation, request: Request, services: Services) -> Site | None:
    """Who is calling, as `op.security` asks: the plugin's site (answered), an admin, Stripe,
    or anyone (public)."""
    if op.security == "plugin":
        site = await authenticate_plugin(request, services)
        request.ctx.site_id = site.site_id  # the access line names it
        return site
    if op.security == "admin":
        authenticate_admin(request, services.settings.admin_api_token)
    elif op.security == "stripe":
        # The signature is checked on the raw bytes before anything else reads the body.
        services.stripe.verify_webhook(request.body or b"", request.headers.get("stripe-signature"))
    return None


async def _limit_rate(
    op: Operation, request: Request, services: Services, site: Site | None
) -> None:
    """Count the call (shared by every worker and machine through the store, in batches: see
    `service.http.rate_limits`); 429 past the limit. A site's calls count per site; a public
    operation's count per client address when the spec marks it `x-rate-limit: per-client`."""
    if site is not None:
        await services.rate_limiter.hit(f"site:{site.site_id}")
    elif op.rate_limited_per_client:
        # remote_addr is the client the trusted proxies report (PROXIES_COUNT, REAL_IP_HEADER,
        # FORWARDED_SECRET); without proxies it is empty and the peer's address counts.
        await services.rate_limiter.hit(f"ip:{request.remote_addr or request.ip}")


def _read_body(op: Operation, request: Request) -> Any:
    """The JSON body, validated against the spec (None when the operation takes none)."""
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


def _read_event(op: Operation, request: Request) -> Any:
    """Stripe's signed body: one that is not an event (not JSON, not Unicode text, or not the
    spec's `StripeEvent`) answers `invalid_event`, with what was wrong with it."""
    try:
        return _read_body(op, request)
    except (InvalidJson, InvalidRequest, ValidationFailed) as exc:
        raise InvalidEvent(f"{InvalidEvent.message}: {exc.message}") from exc


def _answer(op: Operation, reply: Reply, services: Services) -> HTTPResponse:
    """The handler's reply as a response; with VALIDATE_RESPONSES, it must match the spec."""
    if isinstance(reply, HTTPResponse):
        return _whole_answer(op, reply, services)
    status, data = reply if isinstance(reply, tuple) else (200, reply)
    if services.settings.validate_responses:
        problems = op.response_errors(status, data)
        if problems:
            log.error("response breaks the contract: %s %s", op.operation_id, problems)
            raise ResponseContractViolation("; ".join(problems)[:500])
    return json_answer(data, status=status)


def _whole_answer(op: Operation, response: HTTPResponse, services: Services) -> HTTPResponse:
    """A document answered as it is (the contract as YAML, a page): its status and media type
    must be documented too."""
    if services.settings.validate_responses:
        problems = op.media_errors(response.status, response.content_type, response.body or b"")
        if problems:
            log.error("response breaks the contract: %s %s", op.operation_id, problems)
            raise ResponseContractViolation("; ".join(problems)[:500])
    return response


# ---------------------------------------------------------------- 3. errors answer the envelope
def error_answer(op: Operation, exc: ApiError, services: Services) -> HTTPResponse:
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


#: The 503's message when nothing of the request was applied.
STORE_DOWN_MESSAGE = "The store does not answer; nothing was changed, retry in a few seconds"
#: The 503's message when a money change's commit may or may not have landed.
OUTCOME_UNKNOWN_MESSAGE = (
    "The store does not answer and the outcome is unknown: the change may have been applied."
    " Retrying with the same Idempotency-Key (an adjustment: the same adjustment_id) is safe:"
    " it is applied at most once"
)


def store_unavailable(operation: str, exc: StoreUnavailableError) -> StoreUnavailable:
    """The 503 of a store that did not answer, logged once here with the request id. The
    reason logged is the adapter's (a driver error's class), never a driver's message."""
    unknown = exc.outcome_unknown
    log.error(
        "store unavailable: %s request_id=%s reason=%s%s",
        operation,
        current_request_id.get(),
        exc,
        " outcome=unknown" if unknown else "",
    )
    message = OUTCOME_UNKNOWN_MESSAGE if unknown else STORE_DOWN_MESSAGE
    return StoreUnavailable(message)


def handle_exception(request: Request, exc: Exception) -> HTTPResponse:
    """Every failure answers in the envelope, finished (step 4) here; nothing leaks a
    traceback or a secret."""
    if not hasattr(request.ctx, "request_id"):
        _begin(request)  # refused before any route ran (404, 413): its lines carry its id too
    response = _exception_answer(request, exc)
    _finish(request, response, operation_of(request), request.app.ctx.services)
    return response


def _exception_answer(request: Request, exc: Exception) -> HTTPResponse:
    if isinstance(exc, ApiError):
        return exc.to_response()
    if isinstance(exc, StoreUnavailableError):
        return store_unavailable(operation_of(request), exc).to_response()
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


# ---------------------------------------------------------------- 4. every answer ends
async def finish_request(request: Request, response: BaseHTTPResponse) -> None:
    """Step 4 as a route's middleware (outside the contract)."""
    _finish(request, response, operation_of(request), request.app.ctx.services)


def _finish(
    request: Request, response: BaseHTTPResponse, operation: str, services: Services
) -> None:
    """Echo the request id, record `(operation, status, seconds)` in the metrics and write
    the access line (ACCESS_LOG) of every answer, failed ones included; once per request."""
    ctx = request.ctx
    if not hasattr(ctx, "request_id"):
        _begin(request)  # answered before any step 1 ran
    elif ctx.finished:
        return
    ctx.finished = True
    response.headers[REQUEST_ID_HEADER] = ctx.request_id
    seconds = time.perf_counter() - ctx.started
    services.metrics.record_request(operation, response.status, seconds)
    if services.settings.access_log:
        log_access(request, response.status, operation, seconds)


def operation_of(request: Request) -> str:
    """The spec's operationId of the matched route, or `-` when nothing matched."""
    route = getattr(request, "route", None)
    name = getattr(route, "name", None) if route is not None else None
    return name.rsplit(".", 1)[-1] if name else "-"


def log_access(request: Request, status: int, operation: str, seconds: float) -> None:
    """One access line; of the headers it names only the instance id and the User-Agent
    (formatted off the event loop: see `write_access_line`)."""
    headers = request.headers
    write_access_line(
        AccessLine(
            time.time_ns(),
            request.ctx.request_id,
            request.method,
            request.path,
            status,
            operation,
            round(seconds * 1000, 2),
            getattr(request.ctx, "site_id", None) or "-",
            headers.get("x-instance-id", "-"),
            headers.get("user-agent", ""),
        )
    )
