"""What plugins are configured with, as `/config/*` answers it and the admin API sets it:
the AI provider settings and the Stripe settings shown to plugins.

A site's provider settings are layered, later wins: the catalogue (`providers.py`), the
deployment's stored settings for the provider, the site's own overrides. The deployment's
provider keys go only to sites the policy allows: every site with `PROVIDER_KEY_POLICY=all`,
else only sites an admin approved (`PUT /admin/sites/{site_id}/provider-access`). Other sites
get the same settings with `api_key: null` and `api_key_withheld` saying why; the plugin reads
an empty key as "not configured" and says so instead of generating.

A site's config and the stored settings change key by key in the store
(`Store.update_site_config`, `Store.merge_setting`), never rebuilt from a copy the caller
holds: a worker's cached site may be stale, and a concurrent writer's keys must survive.
"""

from __future__ import annotations

from typing import Any

from ..context import Services
from ..domain.models import Site
from ..errors import ProviderAccessNotApproved, ProviderNotFound, SiteNotFound
from .plugin_notices import notify_active_sites, notify_site

#: Where a site's approval is kept: in its config, beside the admin's provider overrides.
PROVIDER_ACCESS = "provider_access"
WITHHELD = {"reason": ProviderAccessNotApproved.code, "message": ProviderAccessNotApproved.message}


# ---------------------------------------------------------------- provider keys: the policy
def provider_access_approved(site: Site) -> bool:
    """Whether an admin approved the site for the deployment's provider keys."""
    return site.config.get(PROVIDER_ACCESS) == "approved"


def may_read_keys(services: Services, site: Site) -> bool:
    """Whether this site may read the deployment's provider keys (PROVIDER_KEY_POLICY)."""
    return services.settings.provider_key_policy == "all" or provider_access_approved(site)


def withheld(services: Services, site: Site) -> dict[str, Any]:
    """`api_key_withheld` for an answer whose key the policy kept back, else nothing."""
    return {} if may_read_keys(services, site) else {"api_key_withheld": dict(WITHHELD)}


async def set_provider_access(services: Services, site: Site, approved: bool) -> Site:
    """Approve (or revoke) a site for the deployment's provider keys; the site is told when
    that changes its answer. Only the site's id is read: the store changes this one key."""
    if approved:
        change = await services.store.update_site_config(
            site.site_id, {PROVIDER_ACCESS: "approved"}
        )
    else:
        change = await services.store.update_site_config(site.site_id, {}, [PROVIDER_ACCESS])
    if change is None:
        raise SiteNotFound()
    before, updated = change
    # From the store's before and after: the caller's copy may be stale.
    if provider_access_approved(updated) != provider_access_approved(before):
        # The plugin drops its cached provider settings on config_updated.
        await notify_site(
            services, updated, "config_updated", {"scope": "provider_access", "approved": approved}
        )
    return updated


# ---------------------------------------------------------------- provider settings
async def effective_provider(
    services: Services, site: Site, provider: str | None = None
) -> dict[str, Any]:
    """The site's provider settings: catalogue, then deployment settings, then site overrides;
    the key only where the policy allows."""
    catalogue = services.providers
    name = provider or site.config.get("provider") or catalogue.default_provider
    if name not in catalogue:
        if provider is not None:
            raise ProviderNotFound(f"Unknown provider {name}")
        # The site's stored choice left the catalogue: serve the default, not an error.
        name = catalogue.default_provider
    stored = await services.store.get_setting(f"provider:{name}")
    overrides = site.config if site.config.get("provider", name) == name else {}
    settings = catalogue.resolve(name, stored, overrides)
    if not may_read_keys(services, site):
        settings = {**settings, "api_key": None}
    return settings


async def choose_provider(services: Services, site: Site, name: str) -> Site:
    """Record the site's provider choice (a catalogue name). Only the site's id is read (a
    worker's cached copy may be stale): the store changes this one key."""
    if name not in services.providers:
        raise ProviderNotFound(f"Unknown provider {name}")
    change = await services.store.update_site_config(site.site_id, {"provider": name})
    return change[1] if change else site


async def provider_summaries(services: Services) -> list[dict[str, Any]]:
    """Every catalogue provider with the deployment's settings, keys shown only as present."""
    catalogue = services.providers
    return [
        catalogue.summary(name, await services.store.get_setting(f"provider:{name}"))
        for name in catalogue.providers
    ]


async def set_provider_settings(
    services: Services, name: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Merge the admin's changes into the deployment's settings of a provider and tell every
    active site which keys changed (the key's name only, last); answers its summary."""
    catalogue = services.providers
    if name not in catalogue:
        raise ProviderNotFound(f"Unknown provider {name}")
    _, stored = await services.store.merge_setting(f"provider:{name}", changes)
    await notify_active_sites(
        services,
        "config_updated",
        {
            "scope": "provider",
            "provider": name,
            "keys": sorted(k for k in changes if k != "api_key")
            + (["api_key"] if "api_key" in changes else []),
        },
    )
    return catalogue.summary(name, stored)


# ---------------------------------------------------------------- Stripe
async def stripe_display(services: Services) -> dict[str, Any]:
    """Publishable Stripe settings: the admin's stored values over the environment's."""
    stored = await services.store.get_setting("stripe") or {}
    settings = services.settings
    public_key = stored.get("public_key") or settings.stripe_public_key
    test_mode = stored.get("test_mode")
    if test_mode is None:
        test_mode = not (public_key or "").startswith("pk_live_")
    return {
        "public_key": public_key,
        "currency": stored.get("currency") or settings.stripe_currency,
        "test_mode": bool(test_mode),
    }


async def stripe_admin_view(services: Services) -> dict[str, Any]:
    """What admins see of the Stripe settings: secrets only as configured or not."""
    settings = services.settings
    return {
        "success": True,
        "secret_key_configured": bool(settings.stripe_secret_key),
        "webhook_secret_configured": bool(settings.stripe_webhook_secret),
        "api_base": settings.stripe_api_base or "https://api.stripe.com",
        **await stripe_display(services),
    }


async def set_stripe_settings(services: Services, changes: dict[str, Any]) -> None:
    """Merge the admin's changes into the stored Stripe settings and tell every active site."""
    update = dict(changes)
    if "currency" in update:
        update["currency"] = update["currency"].upper()
    await services.store.merge_setting("stripe", update)
    await notify_active_sites(
        services, "config_updated", {"scope": "stripe", "keys": sorted(update)}
    )


async def set_site_overrides(
    services: Services, site: Site, changes: dict[str, Any]
) -> dict[str, Any]:
    """Merge an admin's overrides (provider choice, model, ...) into a site's config and tell
    the site which keys changed; answers the config. Only the site's id is read: the store
    changes these keys alone."""
    provider = changes.get("provider")
    if provider is not None and provider not in services.providers:
        raise ProviderNotFound(f"Unknown provider {provider}")
    change = await services.store.update_site_config(site.site_id, dict(changes))
    if change is None:
        raise SiteNotFound()
    updated = change[1]
    await notify_site(
        services, updated, "config_updated", {"scope": "site", "keys": sorted(changes)}
    )
    return dict(updated.config)
