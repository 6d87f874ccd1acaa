"""The shape every `/v1` write shares: creating an object, or acting on the one a path names.

Invariant: a write reads the request's params once and refuses any it does not accept before
it changes anything; an action finds its object (Stripe's 404 otherwise) before it runs; both
answer the object as retrieve renders it, with the request's `expand[]`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from ..context import FakeContext, context
from ..forms import reject_unknown
from ..resources import Resource
from ..wire import expand_paths, read_params, stripe_json
from .reads import PLAIN, Obj, View

Params = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.Response]]
#: Makes an object from the params and answers it.
Create = Callable[[FakeContext, Params], Obj]
#: Changes the object the path names, in place, through the resource's logic module.
Action = Callable[[FakeContext, Params, Obj], object]


async def _checked_params(request: web.Request, accepts: Iterable[str]) -> Params:
    params = await read_params(request)
    reject_unknown(params, accepts)
    return params


def creates(accepts: Iterable[str], view: View = PLAIN) -> Callable[[Create], Handler]:
    """`POST /v1/<path>`: the handler that runs `create` on the accepted params."""
    accepted = tuple(accepts)

    def wrap(create: Create) -> Handler:
        @functools.wraps(create)
        async def handler(request: web.Request) -> web.Response:
            ctx, params = context(request), await _checked_params(request, accepted)
            obj = create(ctx, params)
            return stripe_json(view.render(ctx.state, obj, expand_paths(params)))

        return handler

    return wrap


def acts_on(
    resource: Resource, accepts: Iterable[str], view: View = PLAIN
) -> Callable[[Action], Handler]:
    """`POST /v1/<path>/{id}[/<verb>]`: the handler that runs `act` on the stored object."""
    accepted = tuple(accepts)

    def wrap(act: Action) -> Handler:
        @functools.wraps(act)
        async def handler(request: web.Request) -> web.Response:
            ctx, params = context(request), await _checked_params(request, accepted)
            obj = ctx.state.get(resource, request.match_info["id"])
            act(ctx, params, obj)
            return stripe_json(view.render(ctx.state, obj, expand_paths(params)))

        return handler

    return wrap
