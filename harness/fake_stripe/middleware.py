"""Cross-cutting request handling: errors, request ids, API-key auth, saving state."""

from __future__ import annotations

import base64
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from . import objects, params, publishable_key
from .context import context
from .errors import StripeError, authentication_failed, invalid_request
from .wire import error_response, read_params

log = logging.getLogger(__name__)

API_PREFIX = "/v1/"


def is_api(request: web.Request) -> bool:
    """Whether the request is for the Stripe API (as opposed to pages or control routes)."""
    return request.path.startswith(API_PREFIX)


@web.middleware
async def stripe_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn StripeErrors and unknown API routes into Stripe error bodies; save state after.

    The answer leaves only once its changes are journaled and fsynced (see `journal.py`).
    """
    try:
        return await handler(request)
    except StripeError as error:
        return error_response(error)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        if not is_api(request):
            raise
        message = f"Unrecognized request URL ({request.method}: {request.path})."
        return error_response(StripeError(404, message))
    except web.HTTPException:
        raise
    except Exception:
        log.exception("fake stripe failed on %s %s", request.method, request.path)
        return error_response(StripeError(500, "Internal fake error.", type="api_error"))
    finally:
        state = context(request).state
        state.flush()
        await state.synced()


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give API requests a `req_...` id, echoed in `Request-Id` and recorded on events."""
    if not is_api(request):
        return await handler(request)
    request_id = objects.new_id("req")
    token = objects.current_request.set(
        {"id": request_id, "idempotency_key": request.headers.get("Idempotency-Key")}
    )
    try:
        response = await handler(request)
    finally:
        objects.current_request.reset(token)
    response.headers["Request-Id"] = request_id
    response.headers["Stripe-Version"] = objects.API_VERSION
    return response


@web.middleware
async def require_api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Reject API requests without the configured secret key (Bearer or Basic auth).

    The publishable key (Bearer, or Stripe.js's `key` parameter) reaches only the calls
    `publishable_key.py` allows; a `client_secret` sent with any key must be the intent's.
    """
    if not is_api(request):
        return await handler(request)
    ctx = context(request)
    key = _presented_key(request.headers.get("Authorization", ""))
    if not key:
        key = await publishable_key.key_param(request)
    if not key:
        raise authentication_failed(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    if key == ctx.publishable_key:
        await publishable_key.authorize(request)
    elif key != ctx.secret_key:
        raise authentication_failed(f"Invalid API Key provided: {_redact(key)}")
    elif publishable_key.route_of(request) in publishable_key.INTENT_ROUTES:
        if "client_secret" in (await read_params(request)):
            await publishable_key.check_client_secret(request)
    return await handler(request)


def _presented_key(authorization: str) -> str:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":  # curl -u sk_test_...: sends the key as the user name
        try:
            return base64.b64decode(value).decode().split(":", 1)[0]
        except ValueError:
            return ""
    return ""


def _redact(key: str) -> str:
    return key[:8] + "*" * max(len(key) - 12, 4) + key[-4:] if len(key) > 12 else "****"


@web.middleware
async def stripe_params(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse params Stripe's request schema refuses (unknown, missing, wrong type) with
    Stripe's 400, before the handler or an idempotent replay sees the request."""
    if is_api(request):
        schema = params.schema_for(request.method, request.path)
        if schema is not None:
            try:
                decoded = await read_params(request)
            except UnicodeDecodeError:
                raise invalid_request("Invalid request body: it is not UTF-8.") from None
            params.check_params(schema, decoded)
    return await handler(request)
