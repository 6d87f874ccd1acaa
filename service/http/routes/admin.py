"""The admin API: sites, users and credits, ledger, packages, config, webhooks, figures."""

from __future__ import annotations

import time

from ...errors import DeliveryNotFound
from ...flows import credits, packages, site_config, sites
from ...flows.plugin_notices import delivery_view, notify_site
from .registry import Call, Operations, Reply

ops = Operations()


# ---------------------------------------------------------------- sites and users
@ops("adminListSites")
async def list_sites(call: Call) -> Reply:
    limit, offset = call.params["limit"], call.params["offset"]
    found = await call.services.store.list_sites(
        status=call.params.get("status"), limit=limit, offset=offset
    )
    return {
        "success": True,
        "sites": [sites.admin_view(s) for s in found],
        "limit": limit,
        "offset": offset,
    }


@ops("adminGetSite")
async def get_site(call: Call) -> Reply:
    site = await sites.existing_site(call.services, call.params["site_id"])
    return {"success": True, "site": sites.admin_view(site)}


@ops("adminDisableSite")
async def disable_site(call: Call) -> Reply:
    site = await sites.existing_site(call.services, call.params["site_id"])
    reason = (call.body or {}).get("reason") or "Disabled by the administrator"
    updated = await sites.disable(call.services, site, reason)
    return {"success": True, "site": sites.admin_view(updated)}


@ops("adminEnableSite")
async def enable_site(call: Call) -> Reply:
    site = await sites.existing_site(call.services, call.params["site_id"])
    updated = await sites.enable(call.services, site)
    return {"success": True, "site": sites.admin_view(updated)}


@ops("adminSetSiteConfig")
async def set_site_config(call: Call) -> Reply:
    site = await sites.existing_site(call.services, call.params["site_id"])
    config = await site_config.set_site_overrides(call.services, site, call.body)
    return {"success": True, "config": config}


@ops("adminSetProviderAccess")
async def set_provider_access(call: Call) -> Reply:
    """Approve (or revoke) a site for the deployment's provider keys (PROVIDER_KEY_POLICY)."""
    site = await sites.existing_site(call.services, call.params["site_id"])
    updated = await site_config.set_provider_access(
        call.services, site, bool(call.body["approved"])
    )
    return {"success": True, "site": sites.admin_view(updated)}


@ops("adminReleaseInstance")
async def release_instance(call: Call) -> Reply:
    """Free an instance id for its next registration (see `sites.release_instance`)."""
    instance_id = call.params["instance_id"]
    updated = await sites.release_instance(call.services, instance_id)
    return {"success": True, "released_instance_id": instance_id, "site": sites.admin_view(updated)}


@ops("adminListSiteUsers")
async def list_site_users(call: Call) -> Reply:
    site = await sites.existing_site(call.services, call.params["site_id"])
    limit, offset = call.params["limit"], call.params["offset"]
    users = await call.services.store.list_users(site.site_id, limit=limit, offset=offset)
    return {"success": True, "users": [u.to_api() for u in users], "limit": limit, "offset": offset}


@ops("adminAdjustCredits")
async def adjust_credits(call: Call) -> Reply:
    site = await sites.existing_site(call.services, call.params["site_id"])
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
    found = await call.services.store.list_packages(active_only=False)
    return {"success": True, "packages": [p.to_api() for p in found]}


@ops("adminCreatePackage")
async def create_package(call: Call) -> Reply:
    package = await packages.create_package(call.services, call.body)
    return 201, {"success": True, "package": package.to_api()}


@ops("adminUpdatePackage")
async def update_package(call: Call) -> Reply:
    package = await packages.update_package(
        call.services, call.params["package_id"], dict(call.body), "updated"
    )
    return {"success": True, "package": package.to_api()}


@ops("adminDeactivatePackage")
async def deactivate_package(call: Call) -> Reply:
    package = await packages.update_package(
        call.services, call.params["package_id"], {"active": False}, "deactivated"
    )
    return {"success": True, "package": package.to_api()}


# ---------------------------------------------------------------- config
@ops("adminGetStripeConfig")
async def get_stripe_config(call: Call) -> Reply:
    return await site_config.stripe_admin_view(call.services)


@ops("adminSetStripeConfig")
async def set_stripe_config(call: Call) -> Reply:
    await site_config.set_stripe_settings(call.services, call.body)
    return await site_config.stripe_admin_view(call.services)


@ops("adminListProviderConfig")
async def list_provider_config(call: Call) -> Reply:
    return {
        "success": True,
        "providers": await site_config.provider_summaries(call.services),
        "default_provider": call.services.providers.default_provider,
    }


@ops("adminSetProviderConfig")
async def set_provider_config(call: Call) -> Reply:
    summary = await site_config.set_provider_settings(
        call.services, call.params["provider"], call.body
    )
    return {"success": True, "provider": summary}


# ---------------------------------------------------------------- webhooks
@ops("adminListWebhookDeliveries")
async def list_webhook_deliveries(call: Call) -> Reply:
    site = await sites.existing_site(call.services, call.params["site_id"])
    limit, offset = call.params["limit"], call.params["offset"]
    deliveries = await call.services.store.list_webhook_deliveries(
        site.site_id, limit=limit, offset=offset
    )
    return {
        "success": True,
        "deliveries": [delivery_view(d) for d in deliveries],
        "limit": limit,
        "offset": offset,
    }


@ops("adminSendTestWebhook")
async def send_test_webhook(call: Call) -> Reply:
    site = await sites.existing_site(call.services, call.params["site_id"])
    delivery = await notify_site(
        call.services, site, "test_webhook", {"message": "Test webhook from the Rakubun dashboard"}
    )
    return {"success": True, "delivery": delivery_view(delivery)}


@ops("adminRetryWebhookDelivery")
async def retry_webhook_delivery(call: Call) -> Reply:
    delivery = await call.services.store.retry_webhook_delivery(
        call.params["delivery_id"], now=time.time()
    )
    if delivery is None:
        raise DeliveryNotFound()
    call.services.dispatcher.wake()
    return {"success": True, "delivery": delivery_view(delivery)}


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
