"""The admin API: sites, users and credits, ledger, packages, config, webhooks, figures."""

from __future__ import annotations

import json
import time
from typing import Any

from .. import credits
from ..auth import hash_token, new_api_token
from ..domain import plugin_webhooks
from ..domain.models import Package, Site, iso_from_unix
from ..errors import (
    DeliveryNotFound,
    DuplicatePackage,
    InstanceNotFound,
    PackageNotFound,
    ProviderNotFound,
    SiteNotFound,
    SiteReleased,
)
from ..store import DuplicateError
from .config import PROVIDER_ACCESS, provider_access_approved, stripe_display
from .registry import Call, Operations, Reply

ops = Operations()


async def _site(call: Call) -> Site:
    site = await call.services.store.get_site(call.params["site_id"])
    if site is None:
        raise SiteNotFound()
    return site


#: A released site's instance id: a `/` no registration can use, then the site's own id.
RELEASED_PREFIX = "released/"


def _site_view(site: Site) -> dict[str, Any]:
    return {
        **site.public(),
        "config": dict(site.config),
        "provider_access": "approved" if provider_access_approved(site) else "not_approved",
        "released": site.instance_id.startswith(RELEASED_PREFIX),
    }


async def _notify(call: Call, site: Site, event: str, data: dict[str, Any]) -> None:
    await call.services.store.enqueue_webhook(plugin_webhooks.draft(site, event, data))
    call.services.dispatcher.wake()


async def _notify_all(call: Call, event: str, data: dict[str, Any]) -> None:
    """Tell every active site (package and deployment-wide config changes)."""
    offset = 0
    while True:
        sites = await call.services.store.list_sites(status="active", limit=200, offset=offset)
        for site in sites:
            await call.services.store.enqueue_webhook(plugin_webhooks.draft(site, event, data))
        if len(sites) < 200:
            break
        offset += 200
    call.services.dispatcher.wake()


# ---------------------------------------------------------------- sites and users
@ops("adminListSites")
async def list_sites(call: Call) -> Reply:
    limit, offset = call.params["limit"], call.params["offset"]
    sites = await call.services.store.list_sites(
        status=call.params.get("status"), limit=limit, offset=offset
    )
    return {
        "success": True,
        "sites": [_site_view(s) for s in sites],
        "limit": limit,
        "offset": offset,
    }


@ops("adminGetSite")
async def get_site(call: Call) -> Reply:
    return {"success": True, "site": _site_view(await _site(call))}


@ops("adminDisableSite")
async def disable_site(call: Call) -> Reply:
    site = await _site(call)
    reason = (call.body or {}).get("reason") or "Disabled by the administrator"
    updated = await call.services.store.update_site(
        site.site_id, {"status": "disabled", "disabled_reason": reason}
    )
    assert updated is not None
    if site.active:
        await _notify(call, updated, "plugin_disabled", {"reason": reason})
    return {"success": True, "site": _site_view(updated)}


@ops("adminEnableSite")
async def enable_site(call: Call) -> Reply:
    site = await _site(call)
    if site.instance_id.startswith(RELEASED_PREFIX):
        raise SiteReleased()
    updated = await call.services.store.update_site(
        site.site_id, {"status": "active", "disabled_reason": None}
    )
    assert updated is not None
    if not site.active:
        await _notify(call, updated, "plugin_enabled", {})
    return {"success": True, "site": _site_view(updated)}


@ops("adminSetSiteConfig")
async def set_site_config(call: Call) -> Reply:
    site = await _site(call)
    provider = call.body.get("provider")
    if provider is not None and provider not in call.services.providers:
        raise ProviderNotFound(f"Unknown provider {provider}")
    config = {**site.config, **call.body}
    updated = await call.services.store.update_site(site.site_id, {"config": config})
    assert updated is not None
    await _notify(call, updated, "config_updated", {"scope": "site", "keys": sorted(call.body)})
    return {"success": True, "config": config}


@ops("adminSetProviderAccess")
async def set_provider_access(call: Call) -> Reply:
    """Approve (or revoke) a site for the deployment's provider keys (PROVIDER_KEY_POLICY)."""
    site = await _site(call)
    approved = bool(call.body["approved"])
    config = {k: v for k, v in site.config.items() if k != PROVIDER_ACCESS}
    if approved:
        config[PROVIDER_ACCESS] = "approved"
    updated = await call.services.store.update_site(site.site_id, {"config": config})
    assert updated is not None
    if approved != provider_access_approved(site):
        # The plugin drops its cached provider settings on config_updated.
        await _notify(
            call, updated, "config_updated", {"scope": "provider_access", "approved": approved}
        )
    return {"success": True, "site": _site_view(updated)}


@ops("adminReleaseInstance")
async def release_instance(call: Call) -> Reply:
    """Free an instance id for its next registration; the site holding it keeps its history.

    The site is renamed to `released/<site_id>`, disabled, and its token replaced by one
    nobody knows, so the old token answers 401 and the next registration of the instance
    id gets a new site with new credentials. Users, ledger and deliveries stay on the old
    site id.
    """
    instance_id = call.params["instance_id"]
    store = call.services.store
    site = await store.get_site_by_instance(instance_id)
    if site is None:
        raise InstanceNotFound("No site holds this instance id")
    # Disabled first: a crash between the two writes leaves the id held and the call repeatable.
    await store.update_site(
        site.site_id,
        {
            "status": "disabled",
            "disabled_reason": "Instance released by the administrator",
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
    return {"success": True, "released_instance_id": instance_id, "site": _site_view(updated)}


@ops("adminListSiteUsers")
async def list_site_users(call: Call) -> Reply:
    site = await _site(call)
    limit, offset = call.params["limit"], call.params["offset"]
    users = await call.services.store.list_users(site.site_id, limit=limit, offset=offset)
    return {"success": True, "users": [u.to_api() for u in users], "limit": limit, "offset": offset}


@ops("adminAdjustCredits")
async def adjust_credits(call: Call) -> Reply:
    site = await _site(call)
    return await credits.adjust(call.services, site, call.params["user_id"], call.body)


@ops("adminListLedger")
async def list_ledger(call: Call) -> Reply:
    return await credits.ledger_page(
        call.services,
        site_id=call.params.get("site_id"),
        user_id=call.params.get("user_id"),
        credit_type=call.params.get("credit_type"),
        limit=call.params["limit"],
        offset=call.params["offset"],
    )


# ---------------------------------------------------------------- packages
@ops("adminListPackages")
async def list_packages(call: Call) -> Reply:
    packages = await call.services.store.list_packages(active_only=False)
    return {"success": True, "packages": [p.to_api() for p in packages]}


@ops("adminCreatePackage")
async def create_package(call: Call) -> Reply:
    body = call.body
    package = Package(
        package_id=body["package_id"],
        name=body["name"],
        credit_type=body["credit_type"],
        credits=body["credits"],
        price=body["price"],
        currency=body["currency"].upper(),
        description=body.get("description", ""),
        is_popular=body.get("is_popular", False),
        active=body.get("active", True),
        sort_order=body.get("sort_order", 100),
    )
    try:
        await call.services.store.create_package(package)
    except DuplicateError as exc:
        raise DuplicatePackage() from exc
    await _notify_all(call, "package_updated", {"action": "created", "package": package.to_api()})
    return 201, {"success": True, "package": package.to_api()}


#: What an update may change; a package's id and credit type are fixed.
UPDATABLE_PACKAGE_FIELDS = (
    "name",
    "credits",
    "price",
    "currency",
    "description",
    "is_popular",
    "active",
    "sort_order",
)


async def _update_package(call: Call, fields: dict[str, Any], action: str) -> Reply:
    fields = {k: v for k, v in fields.items() if k in UPDATABLE_PACKAGE_FIELDS}
    if "currency" in fields:
        fields = {**fields, "currency": fields["currency"].upper()}
    package = await call.services.store.update_package(call.params["package_id"], fields)
    if package is None:
        raise PackageNotFound()
    await _notify_all(call, "package_updated", {"action": action, "package": package.to_api()})
    return {"success": True, "package": package.to_api()}


@ops("adminUpdatePackage")
async def update_package(call: Call) -> Reply:
    return await _update_package(call, dict(call.body), "updated")


@ops("adminDeactivatePackage")
async def deactivate_package(call: Call) -> Reply:
    return await _update_package(call, {"active": False}, "deactivated")


# ---------------------------------------------------------------- config
async def _stripe_view(call: Call) -> dict[str, Any]:
    settings = call.services.settings
    return {
        "success": True,
        "secret_key_configured": bool(settings.stripe_secret_key),
        "webhook_secret_configured": bool(settings.stripe_webhook_secret),
        "api_base": settings.stripe_api_base or "https://api.stripe.com",
        **await stripe_display(call.services),
    }


@ops("adminGetStripeConfig")
async def get_stripe_config(call: Call) -> Reply:
    return await _stripe_view(call)


@ops("adminSetStripeConfig")
async def set_stripe_config(call: Call) -> Reply:
    stored = await call.services.store.get_setting("stripe") or {}
    update = dict(call.body)
    if "currency" in update:
        update["currency"] = update["currency"].upper()
    await call.services.store.set_setting("stripe", {**stored, **update})
    await _notify_all(call, "config_updated", {"scope": "stripe", "keys": sorted(update)})
    return await _stripe_view(call)


@ops("adminListProviderConfig")
async def list_provider_config(call: Call) -> Reply:
    catalogue = call.services.providers
    providers = [
        catalogue.summary(name, await call.services.store.get_setting(f"provider:{name}"))
        for name in catalogue.providers
    ]
    return {"success": True, "providers": providers, "default_provider": catalogue.default_provider}


@ops("adminSetProviderConfig")
async def set_provider_config(call: Call) -> Reply:
    name = call.params["provider"]
    catalogue = call.services.providers
    if name not in catalogue:
        raise ProviderNotFound(f"Unknown provider {name}")
    key = f"provider:{name}"
    stored = {**(await call.services.store.get_setting(key) or {}), **call.body}
    await call.services.store.set_setting(key, stored)
    await _notify_all(
        call,
        "config_updated",
        {
            "scope": "provider",
            "provider": name,
            "keys": sorted(k for k in call.body if k != "api_key")
            + (["api_key"] if "api_key" in call.body else []),
        },
    )
    return {"success": True, "provider": catalogue.summary(name, stored)}


# ---------------------------------------------------------------- webhooks
def _delivery_view(d: Any) -> dict[str, Any]:
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


@ops("adminListWebhookDeliveries")
async def list_webhook_deliveries(call: Call) -> Reply:
    site = await _site(call)
    limit, offset = call.params["limit"], call.params["offset"]
    deliveries = await call.services.store.list_webhook_deliveries(
        site.site_id, limit=limit, offset=offset
    )
    return {
        "success": True,
        "deliveries": [_delivery_view(d) for d in deliveries],
        "limit": limit,
        "offset": offset,
    }


@ops("adminSendTestWebhook")
async def send_test_webhook(call: Call) -> Reply:
    site = await _site(call)
    delivery = await call.services.store.enqueue_webhook(
        plugin_webhooks.draft(
            site, "test_webhook", {"message": "Test webhook from the Rakubun dashboard"}
        )
    )
    call.services.dispatcher.wake()
    return {"success": True, "delivery": _delivery_view(delivery)}


@ops("adminRetryWebhookDelivery")
async def retry_webhook_delivery(call: Call) -> Reply:
    delivery = await call.services.store.retry_webhook_delivery(
        call.params["delivery_id"], now=time.time()
    )
    if delivery is None:
        raise DeliveryNotFound()
    call.services.dispatcher.wake()
    return {"success": True, "delivery": _delivery_view(delivery)}


@ops("adminFlushWebhooks")
async def flush_webhooks(call: Call) -> Reply:
    result = await call.services.dispatcher.deliver_due(include_scheduled=True)
    pending = await call.services.store.count_pending_webhooks()
    return {
        "success": True,
        "attempted": result.attempted,
        "delivered": result.delivered,
        "pending": pending,
    }


# ---------------------------------------------------------------- figures
@ops("adminGetStats")
async def get_stats(call: Call) -> Reply:
    return {"success": True, **await call.services.store.stats()}


@ops("adminReconcile")
async def reconcile(call: Call) -> Reply:
    report = await call.services.store.reconcile()
    return {
        "success": True,
        "ok": report.ok,
        "balances_checked": report.balances_checked,
        "differences": report.differences,
    }
