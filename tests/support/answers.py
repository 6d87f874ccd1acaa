"""Helpers the service's HTTP tests share: an error answer in our envelope, an admin call.

Each only reads or sends; none keeps state between tests."""

from __future__ import annotations

import json
from typing import Any


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert `response` is our error envelope with `status`, `code` and a message; its body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False and body["error"] == code and body["message"]
    return body


async def admin(service: Any, method: str, path: str, **kw: Any) -> Any:
    """A request to the admin API at `path` (below /api/v1/admin) with the admin token."""
    return await service.http.request(
        method, f"{service.url}/api/v1/admin{path}", headers=service.admin_headers(), **kw
    )


async def told(store: Any, site_id: str, event: str) -> list[dict[str, Any]]:
    """The `data` of every plugin webhook of `event` enqueued for the site, oldest first."""
    deliveries = await store.list_webhook_deliveries(site_id, limit=200)
    return [json.loads(d.body)["data"] for d in reversed(deliveries) if d.event == event]


async def admin_ok(service: Any, method: str, path: str, **kw: Any) -> dict[str, Any]:
    """The body of an admin API call (see `admin`) that must answer 200."""
    response = await admin(service, method, path, **kw)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
