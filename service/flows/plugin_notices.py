"""Telling plugins what an admin changed, and showing what was sent.

A notice is a signed plugin webhook written to the durable outbox (`store.enqueue_webhook`);
the dispatcher is woken to send it now rather than at its next poll.
"""

from __future__ import annotations

import json
from typing import Any

from ..context import Services
from ..domain import plugin_webhooks
from ..domain.models import Site, WebhookDelivery, iso_from_unix

#: Sites read per page when every active site is told.
PAGE = 200


async def notify_site(
    services: Services, site: Site, event: str, data: dict[str, Any]
) -> WebhookDelivery:
    """Tell one site."""
    delivery = await services.store.enqueue_webhook(plugin_webhooks.draft(site, event, data))
    services.dispatcher.wake()
    return delivery


async def notify_active_sites(services: Services, event: str, data: dict[str, Any]) -> None:
    """Tell every active site (package and deployment-wide config changes)."""
    offset = 0
    while True:
        sites = await services.store.list_sites(status="active", limit=PAGE, offset=offset)
        for site in sites:
            await services.store.enqueue_webhook(plugin_webhooks.draft(site, event, data))
        if len(sites) < PAGE:
            break
        offset += PAGE
    services.dispatcher.wake()


def delivery_view(d: WebhookDelivery) -> dict[str, Any]:
    """A delivery as the admin API shows it: its body decoded, its attempts listed."""
    return {
        "delivery_id": d.delivery_id,
        "site_id": d.site_id,
        "event": d.event,
        "url": d.url,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": iso_from_unix(d.next_attempt_at) if d.status == "pending" else None,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "delivered_at": d.delivered_at,
        "body": json.loads(d.body),
        "attempt_log": [a.to_api() for a in d.attempt_log],
    }
