"""Registering a WordPress site."""

from __future__ import annotations

import secrets

from ..auth import hash_token, new_api_token
from ..domain.models import Site
from ..domain.webhook_targets import WebhookTargetError, parse_site_url
from ..errors import DuplicateInstance, error_for
from ..store import DuplicateError
from .registry import Call, Operations, Reply

ops = Operations()

METADATA_FIELDS = (
    "site_title",
    "wordpress_version",
    "plugin_version",
    "php_version",
    "theme",
    "timezone",
    "language",
    "post_count",
    "page_count",
    "activation_date",
    "last_activity",
)


def new_site_id() -> str:
    return "site_" + secrets.token_hex(8)


def checked_site_url(call: Call, raw: str) -> str:
    """The site URL as stored, or 400 when webhooks may not go there (see webhook_targets)."""
    try:
        return parse_site_url(
            raw, allow_private=call.services.settings.webhook_allow_private_targets
        ).url
    except WebhookTargetError as exc:
        raise error_for(exc.code, 400)(exc.message) from exc


@ops("registerPlugin")
async def register_plugin(call: Call) -> Reply:
    """Create the site; its token and secret are answered here once and never again."""
    body = call.body
    token = new_api_token()
    secret = "whsec_" + secrets.token_urlsafe(32)
    site = Site(
        site_id=new_site_id(),
        instance_id=body["instance_id"],
        site_url=checked_site_url(call, body["site_url"]),
        admin_email=body["admin_email"],
        token_hash=hash_token(token),
        webhook_secret=secret,
        metadata={k: body[k] for k in METADATA_FIELDS if k in body},
    )
    try:
        await call.services.store.create_site(site)
    except DuplicateError as exc:
        # No credentials in this answer: whoever knows the instance id (it travels in
        # headers) would get the existing site's token and webhook secret.
        raise DuplicateInstance() from exc
    return {
        "success": True,
        "message": "Plugin registered",
        "site_id": site.site_id,
        "instance_id": site.instance_id,
        "api_token": token,
        "webhook_secret": secret,
    }
