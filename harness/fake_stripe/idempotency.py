"""Idempotent POSTs: a repeated `Idempotency-Key` replays the first response."""

from __future__ import annotations

import hashlib

from aiohttp import web
from aiohttp.typedefs import Handler

from . import objects
from .context import context
from .errors import StripeError
from .middleware import is_api
from .wire import error_response

KEY_HEADER = "Idempotency-Key"


@web.middleware
async def idempotent_replay(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Replay the stored response for a known key; keep the response for a new one."""
    key = request.headers.get(KEY_HEADER)
    if request.method != "POST" or not key or not is_api(request):
        return await handler(request)
    records = context(request).state.idempotency
    fingerprint = await _fingerprint(request)
    record = records.get(key)
    if record is not None:
        return _replay(record, fingerprint, key)
    records[key] = {"fingerprint": fingerprint, "status": None, "body": None}
    try:
        response = await handler(request)
    except StripeError as error:
        response = error_response(error)
    except BaseException:
        del records[key]  # a crash saved nothing; the client may retry with the same key
        raise
    if isinstance(response, web.Response) and response.status < 500:
        records[key].update(status=response.status, body=response.text, created=objects.now())
    else:
        del records[key]
    return response


async def _fingerprint(request: web.Request) -> str:
    body = await request.read()
    return hashlib.sha256(f"{request.method} {request.path_qs}\n".encode() + body).hexdigest()


def _replay(record: dict, fingerprint: str, key: str) -> web.Response:
    if record["status"] is None:
        raise StripeError(
            409,
            "There is currently another in-progress request using this Idempotent Key "
            "(that probably means you submitted twice, and the other request is still "
            "going through): " + key,
            type="idempotency_error",
        )
    if record["fingerprint"] != fingerprint:
        raise StripeError(
            400,
            "Keys for idempotent requests can only be used with the same parameters they "
            f"were first used with. Try using a key other than '{key}' if you meant to "
            "execute a different request.",
            type="idempotency_error",
        )
    response = web.Response(
        status=record["status"], text=record["body"], content_type="application/json"
    )
    response.headers["Idempotent-Replayed"] = "true"
    return response
