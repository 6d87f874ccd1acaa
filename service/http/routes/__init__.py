"""One module per API area; each names its handlers by the spec's operationIds."""

from __future__ import annotations

from . import (
    admin,
    analytics,
    config,
    credits,
    instances,
    packages,
    purchases,
    reference,
    registration,
    stripe_webhooks,
    system,
)
from .registry import Handler

MODULES = (
    system,
    registration,
    packages,
    credits,
    purchases,
    instances,
    config,
    analytics,
    stripe_webhooks,
    admin,
    reference,
)


def _merge() -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for module in MODULES:
        overlap = set(handlers) & set(module.ops)
        if overlap:
            raise ValueError(f"operations bound twice: {sorted(overlap)}")
        handlers.update(module.ops)
    return handlers


#: The spec's operationId -> the route handler bound to it.
OPERATION_HANDLERS: dict[str, Handler] = _merge()
