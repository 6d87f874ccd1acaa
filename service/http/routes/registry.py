"""How a route module names its handlers: by the spec's operationId."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sanic.request import Request
from sanic.response import HTTPResponse

from ...context import Services
from ...domain.models import Site

#: A handler answers a dict (status 200) or (status, dict), or raises ApiError; a document
#: that is not JSON (the contract as YAML, a page) is a whole response.
Reply = dict[str, Any] | tuple[int, dict[str, Any]] | HTTPResponse


@dataclass
class Call:
    """One validated request, as handlers see it."""

    request: Request
    services: Services
    params: dict[str, Any]
    body: Any
    site: Site | None = None

    @property
    def own_site(self) -> Site:
        """The authenticated site (plugin operations only)."""
        assert self.site is not None
        return self.site


Handler = Callable[[Call], Awaitable[Reply]]


class Operations(dict[str, Handler]):
    """A route module's handlers keyed by operationId: `@ops("getHealth")`."""

    def __call__(self, operation_id: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if operation_id in self:
                raise ValueError(f"{operation_id} is bound twice")
            self[operation_id] = handler
            return handler

        return register
