"""A WordPress site's record: its registration, the URL its webhooks go to, the metadata its
plugin reports, and what an admin does to it (disable, enable, release its instance id).

A site's token and webhook secret are answered once, at registration; the store keeps the
token's hash only.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from ..context import Services
from ..domain.models import Site, iso_from_unix
from ..domain.tokens import hash_token, new_api_token
from ..domain.webhook_targets import WebhookTargetError, parse_site_url
from ..errors import DuplicateInstance, InstanceNotFound, SiteNotFound, SiteReleased, error_for
from ..store import DuplicateError
from .plugin_notices import notify_site
from .site_config import provider_access_approved

#: What a plugin reports about its site, kept in the site's metadata.
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

#: A released site's instance id: a `/` no registration can use, then the site's own id.
RELEASED_PREFIX = "released/"
RELEASE_REASON = "Instance released by the administrator"


def new_site_id() -> str:
    return "site_" + secrets.token_hex(8)


def checked_site_url(services: Services, raw: str) -> str:
    """The site URL as stored, or 400 when webhooks may not go there (see webhook_targets)."""
    try:
        return parse_site_url(
            raw, allow_private=services.settings.webhook_allow_private_targets
        ).url
    except WebhookTargetError as exc:
        raise error_for(exc.code, 400)(exc.message) from exc


def reported_metadata(body: dict[str, Any]) -> dict[str, Any]:
    """The metadata fields a plugin's request carries."""
    return {k: body[k] for k in METADATA_FIELDS if k in body}


# ---------------------------------------------------------------- the plugin's calls
async def register(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    """Create the site; its token and secret are answered here once and never again."""
    token = new_api_token()
    secret = "whsec_" + secrets.token_urlsafe(32)
    site = Site(
        site_id=new_site_id(),
        instance_id=body["instance_id"],
        site_url=checked_site_url(services, body["site_url"]),
        admin_email=body["admin_email"],
        token_hash=hash_token(token),
        webhook_secret=secret,
        metadata=reported_metadata(body),
    )
    try:
        await services.store.create_site(site)
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


async def update_own_record(services: Services, site: Site, body: dict[str, Any]) -> Site:
    """Metadata, site URL and admin email only; the schema rejects token, secret, status, ids."""
    fields: dict[str, Any] = {"metadata": reported_metadata(body)}
    if "site_url" in body:
        fields["site_url"] = checked_site_url(services, body["site_url"])
    if "admin_email" in body:
        fields["admin_email"] = body["admin_email"]
    updated = await services.store.update_site(site.site_id, fields)
    if updated is None:
        raise InstanceNotFound()
    return updated


# ---------------------------------------------------------------- the admin's
def admin_view(site: Site) -> dict[str, Any]:
    """A site as the admin API shows it: its public record, config, approval, release."""
    return {
        **site.public(),
        "config": dict(site.config),
        "provider_access": "approved" if provider_access_approved(site) else "not_approved",
        "released": site.instance_id.startswith(RELEASED_PREFIX),
    }


async def existing_site(services: Services, site_id: str) -> Site:
    site = await services.store.get_site(site_id)
    if site is None:
        raise SiteNotFound()
    return site


async def disable(services: Services, site: Site, reason: str) -> Site:
    """Disable a site; an active one is told (`plugin_disabled`), once however many admins
    disable it at the same time (the store says whether it was active)."""
    change = await services.store.set_site_status(site.site_id, "disabled", reason)
    if change is None:
        raise SiteNotFound()
    before, updated = change
    if before.active:
        await notify_site(services, updated, "plugin_disabled", {"reason": reason})
    return updated


async def enable(services: Services, site: Site) -> Site:
    """Enable a site, unless its instance id was released; a disabled one is told."""
    if site.instance_id.startswith(RELEASED_PREFIX):
        raise SiteReleased()
    # Written only while the site holds the instance id checked above.
    change = await services.store.set_site_status(
        site.site_id, "active", None, instance_id=site.instance_id
    )
    if change is None:
        raise SiteNotFound()
    before, updated = change
    if before.instance_id != site.instance_id:
        raise SiteReleased()  # meanwhile: only a release gives a site another instance id
    if not before.active:
        await notify_site(services, updated, "plugin_enabled", {})
    return updated


async def release_instance(services: Services, instance_id: str) -> Site:
    """Free an instance id for its next registration; the site holding it keeps its history.

    The site is renamed to `released/<site_id>`, disabled, and its token replaced by one
    nobody knows, so the old token answers 401 and the next registration of the instance
    id gets a new site with new credentials. Users, ledger and deliveries stay on the old
    site id.
    """
    store = services.store
    site = await store.get_site_by_instance(instance_id)
    if site is None:
        raise InstanceNotFound("No site holds this instance id")
    # Disabled first: a crash between the two writes leaves the id held and the call repeatable.
    await store.update_site(
        site.site_id,
        {
            "status": "disabled",
            "disabled_reason": RELEASE_REASON,
            "metadata": {
                "released_instance_id": instance_id,
                "released_at": iso_from_unix(time.time()),
            },
        },
    )
    updated = await store.reassign_instance(
        site.site_id, RELEASED_PREFIX + site.site_id, hash_token(new_api_token())
    )
    assert updated is not None
    # Again: an enable that read the site before the first write may have landed between
    # the two (it writes only while the site holds the old id, so none can land after).
    change = await store.set_site_status(site.site_id, "disabled", RELEASE_REASON)
    assert change is not None
    return change[1]
