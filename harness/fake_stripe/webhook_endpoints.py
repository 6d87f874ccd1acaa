"""Webhook endpoints: where events are sent, which ones, and the secret they are signed with."""

from __future__ import annotations

from typing import Any

from . import objects
from .errors import invalid_request
from .resources import WEBHOOK_ENDPOINT
from .signature import new_webhook_secret
from .state import StripeState


def create_endpoint(
    state: StripeState,
    url: str,
    enabled_events: list[str],
    *,
    secret: str | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Register an endpoint; the returned copy carries its `secret`, as only Stripe's create does."""
    _check(url, enabled_events)
    endpoint = state.put(
        objects.base(
            WEBHOOK_ENDPOINT,
            api_version=None,
            application=None,
            description=description,
            enabled_events=list(enabled_events),
            metadata=metadata or {},
            status="enabled",
            url=url,
        )
    )
    state.webhook_secrets[endpoint["id"]] = secret or new_webhook_secret()
    return with_secret(state, endpoint)


def with_secret(state: StripeState, endpoint: dict[str, Any]) -> dict[str, Any]:
    """A copy of the endpoint including its signing secret."""
    return {**endpoint, "secret": state.webhook_secrets.get(endpoint["id"])}


def update_endpoint(
    state: StripeState,
    endpoint: dict[str, Any],
    *,
    url: str | None = None,
    enabled_events: list[str] | None = None,
    disabled: bool | None = None,
) -> dict[str, Any]:
    """Change an endpoint's url, events or enabled status."""
    _check(url or endpoint["url"], enabled_events or endpoint["enabled_events"])
    if url:
        endpoint["url"] = url
    if enabled_events:
        endpoint["enabled_events"] = list(enabled_events)
    if disabled is not None:
        endpoint["status"] = "disabled" if disabled else "enabled"
    return state.put(endpoint)


def _check(url: str, enabled_events: list[str]) -> None:
    if not url.startswith(("http://", "https://")):
        raise invalid_request(f"Invalid URL: {url}", param="url")
    if not enabled_events:
        raise invalid_request("Missing required param: enabled_events.", param="enabled_events")
