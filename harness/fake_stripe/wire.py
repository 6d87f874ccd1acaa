"""Stripe's HTTP wire format on aiohttp: read form params, answer JSON objects and errors."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .errors import StripeError
from .forms import decode_form, get_list

# The request's decoded params, in the request's own storage.
_PARAMS = web.RequestKey("stripe_params", dict[str, Any])


async def read_params(request: web.Request) -> dict[str, Any]:
    """Decode query-string and form-body params (`a[b][0]=x`) of an API request, once: the
    params check and the handler share them (neither changes them)."""
    if _PARAMS in request:
        return request[_PARAMS]
    params = decode_form(request.query_string)
    if request.body_exists:
        params.update(decode_form((await request.read()).decode("utf-8")))
    request[_PARAMS] = params
    return params


def expand_paths(params: dict[str, Any]) -> list[str]:
    """The `expand[]` paths a request asked for."""
    return [str(p) for p in get_list(params, "expand")]


# Stripe's API answers any origin, so Stripe.js on a merchant's page can read the answers.
CORS_HEADERS = {"Access-Control-Allow-Origin": "*"}


def stripe_json(obj: Any, status: int = 200) -> web.Response:
    """Answer `obj` as Stripe does: pretty JSON, readable by pages on any origin."""
    return web.json_response(
        obj, status=status, dumps=lambda o: json.dumps(o, indent=2), headers=CORS_HEADERS
    )


def error_response(error: StripeError) -> web.Response:
    """Answer a StripeError with its status and `{"error": {...}}` body."""
    return stripe_json(error.to_json(), status=error.status)
