"""GET `/v1/<path>/{id}` and GET `/v1/<path>` for every served resource, from its declaration.

Invariant: retrieve and list answer the same rendering of the same stored objects; a list's
filters and `expand[]` fields come from the resource (`resources.py`), so declaring a resource
with a `path` serves both routes, and no handler is written per resource.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..context import context
from ..forms import reject_unknown
from ..pagination import LIST_PARAMS, filtered, paginate
from ..resources import Resource
from ..state import StripeState
from ..wire import expand_paths, read_params, stripe_json

Obj = dict[str, Any]


def _as_stored(state: StripeState, obj: Obj) -> Obj:
    return obj


def _with_expansions(state: StripeState, obj: Obj, expand: list[str]) -> Obj:
    return state.expanded(obj, expand)


@dataclass(frozen=True)
class View:
    """How a resource's stored objects are read, where that is more than the stored value."""

    fresh: Callable[[StripeState, Obj], Obj] = _as_stored  # brought up to date before reading
    render: Callable[[StripeState, Obj, list[str]], Obj] = _with_expansions  # with `expand[]`


PLAIN = View()


def read_routes(resource: Resource, view: View = PLAIN) -> list[web.RouteDef]:
    """The retrieve and list routes of `resource`, read through `view`."""

    async def retrieve(request: web.Request) -> web.Response:
        """One object by id, or Stripe's 404 `resource_missing`."""
        state, params = context(request).state, await read_params(request)
        obj = view.fresh(state, state.get(resource, request.match_info["id"]))
        return stripe_json(view.render(state, obj, expand_paths(params)))

    async def list_all(request: web.Request) -> web.Response:
        """The objects its filters keep, newest first, one page of them."""
        state, params = context(request).state, await read_params(request)
        reject_unknown(params, (*LIST_PARAMS, *(p for f in resource.filters for p in f.params)))
        stored = [view.fresh(state, obj) for obj in state.newest_first(resource)]
        listed = filtered(stored, resource.filters, params)
        expand = [p.removeprefix("data.") for p in expand_paths(params)]
        page = paginate(listed, params, resource.url, lambda obj: view.render(state, obj, expand))
        return stripe_json(page)

    return [web.get(f"{resource.url}/{{id}}", retrieve), web.get(resource.url, list_all)]
