"""The WordPress side of the plugin: its webhook endpoint and its purchase page.

`process_webhook` mirrors the plugin's `Rakubun_AI_Webhook_Handler::handle_webhook()` line
by line; the aiohttp handlers around it answer the way WordPress's admin-ajax.php does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from harness.plugin_sim.app_state import simulator_of
from harness.plugin_sim.options import PluginOptions
from harness.plugin_sim.pages import purchase_page
from harness.plugin_sim.signature import signature_is_valid

WEBHOOK_ACTION = "rakubun_webhook"
PURCHASE_PAGE = "rakubun-ai-purchase"
HANDLED_EVENTS = frozenset(
    {
        "config_updated",
        "credits_updated",
        "plugin_disabled",
        "plugin_enabled",
        "package_updated",
        "test_webhook",
    }
)
SIGNATURE_HEADER = "X-Rakubun-Signature"
MAINTENANCE_HTML = (
    "<!DOCTYPE html><html><head><title>Maintenance</title></head>"
    "<body>Briefly unavailable for scheduled maintenance. Check back in a minute.</body></html>"
)


@dataclass(frozen=True)
class WebhookVerdict:
    """What the plugin answered to one webhook, and what it understood of it."""

    status: int
    answer: dict[str, Any]
    signature_valid: bool
    event: str | None = None
    data: Any = None


def _success(message: str) -> dict[str, Any]:
    return {"success": True, "data": {"message": message}}


def _error(message: str) -> dict[str, Any]:
    return {"success": False, "data": {"message": message}}


def process_webhook(
    raw_body: bytes, signature: str | None, options: PluginOptions
) -> WebhookVerdict:
    """Verify, parse and apply one webhook like the plugin; updates `options` as it would.

    401 bad signature, 400 invalid JSON or unknown event, 500 when a handler fails
    (credits_updated without data.user_email), else 200 "Webhook processed".
    """
    if not signature_is_valid(options.webhook_secret, raw_body, signature):
        return WebhookVerdict(401, _error("Invalid signature"), signature_valid=False)
    try:
        payload = json.loads(raw_body)
    except ValueError:
        payload = None
    # PHP's `if (!$data)`: null, false, 0, "", "0" and empty arrays all count as invalid.
    if not payload or payload == "0":
        return WebhookVerdict(400, _error("Invalid JSON"), signature_valid=True)
    event = payload.get("event") if isinstance(payload, dict) else None
    data = payload.get("data") if isinstance(payload, dict) else None
    if event not in HANDLED_EVENTS:
        return WebhookVerdict(400, _error("Unknown event"), True, _as_name(event), data)
    if _apply_event(event, data, options):
        return WebhookVerdict(200, _success("Webhook processed"), True, event, data)
    return WebhookVerdict(500, _error("Failed to process webhook"), True, event, data)


def _apply_event(event: str, data: Any, options: PluginOptions) -> bool:
    fields = data if isinstance(data, dict) else {}
    if event == "credits_updated":
        return bool(fields.get("user_email"))
    if event == "plugin_disabled":
        options.status = "disabled"
        options.disabled_reason = str(fields.get("reason") or "Disabled by admin")
    elif event == "plugin_enabled":
        options.status = "enabled"
        options.disabled_reason = None
    # config_updated and package_updated only clear transients; test_webhook does nothing.
    return True


def _as_name(event: Any) -> str | None:
    return event if isinstance(event, str) or event is None else json.dumps(event)


# -- aiohttp handlers ---------------------------------------------------------------------------


async def admin_ajax(request: web.Request) -> web.StreamResponse:
    """/wp-admin/admin-ajax.php: only the plugin's webhook action is registered."""
    if request.query.get("action") != WEBHOOK_ACTION:
        return web.Response(status=400, text="0")  # admin-ajax.php's answer to unknown actions
    simulator = simulator_of(request)
    raw_body = await request.read()
    status, answer = simulator.receive_webhook(raw_body, request.headers)
    if isinstance(answer, str):
        return web.Response(status=status, text=answer, content_type="text/html")
    return web.json_response(answer, status=status)


async def admin_page(request: web.Request) -> web.StreamResponse:
    """/wp-admin/admin.php?page=rakubun-ai-purchase: where Stripe sends the buyer back.

    Like the plugin's purchase page, a successful return verifies the session at once.
    """
    if request.query.get("page") != PURCHASE_PAGE:
        raise web.HTTPNotFound(text="Sorry, you are not allowed to access this page.")
    simulator = simulator_of(request)
    status = request.query.get("status", "")
    session_id = request.query.get("session_id", "")
    verification = await simulator.land_on_purchase_page(status=status, session_id=session_id)
    return web.Response(
        text=purchase_page(status, session_id, verification), content_type="text/html"
    )


def add_wordpress_routes(app: web.Application) -> None:
    """Mount the stand-in's WordPress URLs on `app`."""
    app.router.add_route("*", "/wp-admin/admin-ajax.php", admin_ajax)
    app.router.add_get("/wp-admin/admin.php", admin_page)
