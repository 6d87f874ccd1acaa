"""Stripe object builders: ids with Stripe's prefixes, timestamps, and JSON shapes."""

from __future__ import annotations

import copy
import secrets
import string
import time
from contextvars import ContextVar
from typing import Any

import stripe

from .defaults import with_defaults
from .resources import EVENT, Resource

API_VERSION: str = stripe.api_version  # events carry the version the pinned SDK expects

_ALPHABET = string.ascii_letters + string.digits

# The API request being served, so events can say which request caused them.
current_request: ContextVar[dict[str, str | None] | None] = ContextVar(
    "current_request", default=None
)


def random_token(length: int = 24) -> str:
    """A random base62 string like the tail of a Stripe id."""
    # One draw from the OS for the whole token: a draw per character was a visible share of a
    # create (`python -m bench --fake-stripe only` measures creates).
    number = secrets.randbelow(len(_ALPHABET) ** length)
    digits = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        digits.append(_ALPHABET[digit])
    return "".join(digits)


def new_id(prefix: str) -> str:
    """A fresh id such as `pi_3Nx...`; objects take their prefix from `resources.py`."""
    return f"{prefix}_{random_token()}"


def now() -> int:
    """The current unix time in whole seconds, as Stripe's `created` fields."""
    return int(time.time())


def base(resource: Resource, **fields: Any) -> dict[str, Any]:
    """The fields every Stripe object has, Stripe's defaults for its kind, then `fields`."""
    obj: dict[str, Any] = {"id": new_id(resource.prefix), "object": resource.object}
    obj.update(with_defaults(resource.object, fields))
    obj.setdefault("created", now())
    obj.setdefault("livemode", False)
    return obj


def event(event_type: str, data_object: dict[str, Any], pending_webhooks: int) -> dict[str, Any]:
    """A Stripe event whose `data.object` is a snapshot of `data_object` taken now."""
    return base(
        EVENT,
        api_version=API_VERSION,
        data={"object": copy.deepcopy(data_object)},
        pending_webhooks=pending_webhooks,
        request=dict(current_request.get() or {"id": None, "idempotency_key": None}),
        type=event_type,
    )


def deleted(obj: dict[str, Any]) -> dict[str, Any]:
    """The body Stripe returns for a deleted object."""
    return {"id": obj["id"], "object": obj["object"], "deleted": True}
