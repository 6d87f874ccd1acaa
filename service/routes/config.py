"""AI provider and Stripe settings, as the plugin reads them.

The deployment's provider keys go only to sites the policy allows: every site with
`PROVIDER_KEY_POLICY=all`, else only sites an admin approved
(`PUT /admin/sites/{site_id}/provider-access`). Other sites get the same settings with
`api_key: null` and `api_key_withheld` saying why; the plugin reads an empty key as "not
configured" and says so instead of generating.
"""

from __future__ import annotations

from typing import Any

from ..context import Services
from ..domain.models import Site
from ..errors import NoProviderKey, NoStripeKey, ProviderAccessNotApproved, ProviderNotFound
from .registry import Call, Operations, Reply

ops = Operations()

#: Where a site's approval is kept: in its config, beside the admin's provider overrides.
PROVIDER_ACCESS = "provider_access"
WITHHELD = {"reason": ProviderAccessNotApproved.code, "message": ProviderAccessNotApproved.message}


def provider_access_approved(site: Site) -> bool:
    return site.config.get(PROVIDER_ACCESS) == "approved"


def may_read_keys(call: Call) -> bool:
    """Whether this site may read the deployment's provider keys (PROVIDER_KEY_POLICY)."""
    return call.services.settings.provider_key_policy == "all" or provider_access_approved(
        call.own_site
    )


async def effective(call: Call, provider: str | None = None) -> dict[str, Any]:
    """The site's provider settings: catalogue, then deployment settings, then site overrides."""
    catalogue = call.services.providers
    site = call.own_site
    name = provider or site.config.get("provider") or catalogue.default_provider
    if name not in catalogue:
        if provider is not None:
            raise ProviderNotFound(f"Unknown provider {name}")
        # The site's stored choice left the catalogue: serve the default, not an error.
        name = catalogue.default_provider
    stored = await call.services.store.get_setting(f"provider:{name}")
    overrides = site.config if site.config.get("provider", name) == name else {}
    settings = catalogue.resolve(name, stored, overrides)
    if not may_read_keys(call):
        settings = {**settings, "api_key": None}
    return settings


def withheld(call: Call) -> dict[str, Any]:
    """`api_key_withheld` for an answer whose key the policy kept back, else nothing."""
    return {} if may_read_keys(call) else {"api_key_withheld": dict(WITHHELD)}


def provider_reply(call: Call, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "success": True,
        "provider": settings["provider"],
        "api_key": settings["api_key"],
        "base_url": settings["base_url"],
        "model_article": settings["model_article"],
        "model_image": settings["model_image"],
        "model_rewrite": settings["model_rewrite"],
        "max_tokens": settings["max_tokens"],
        "temperature": settings["temperature"],
        **withheld(call),
    }


@ops("getProviderConfig")
async def get_provider_config(call: Call) -> Reply:
    return provider_reply(call, await effective(call, call.params.get("provider")))


@ops("setProviderChoice")
async def set_provider_choice(call: Call) -> Reply:
    name = call.body["provider"]
    if name not in call.services.providers:
        raise ProviderNotFound(f"Unknown provider {name}")
    site = call.own_site
    config = {**site.config, "provider": name}
    updated = await call.services.store.update_site(site.site_id, {"config": config})
    call.site = updated or site
    return provider_reply(call, await effective(call, name))


@ops("listProviders")
async def list_providers(call: Call) -> Reply:
    catalogue = call.services.providers
    providers = [
        catalogue.summary(name, await call.services.store.get_setting(f"provider:{name}"))
        for name in catalogue.providers
    ]
    choice = call.own_site.config.get("provider")
    return {
        "success": True,
        "providers": providers,
        "default_provider": choice if choice in catalogue else catalogue.default_provider,
    }


@ops("getOpenAIConfig")
async def get_openai_config(call: Call) -> Reply:
    settings = (
        await effective(call, "openai")
        if "openai" in call.services.providers
        else await effective(call)
    )
    return {
        "success": True,
        "api_key": settings["api_key"],
        "model": settings["model_article"],
        "image_model": settings["model_image"],
        "max_tokens": settings["max_tokens"],
        "temperature": settings["temperature"],
        "base_url": settings["base_url"],
        **withheld(call),
    }


@ops("getArticleConfig")
async def get_article_config(call: Call) -> Reply:
    s = await effective(call)
    return {
        "success": True,
        "models": list(s["models"].get("article", [])),
        "config": {
            "provider": s["provider"],
            "api_key": s["api_key"],
            "model": s["model_article"],
            "temperature": s["temperature"],
            "max_tokens": s["max_tokens"],
            "system_prompt": s["system_prompt"],
            "base_url": s["base_url"],
        },
        **withheld(call),
    }


@ops("getImageConfig")
async def get_image_config(call: Call) -> Reply:
    s = await effective(call)
    return {
        "success": True,
        "models": list(s["models"].get("image", [])),
        "sizes": list(call.services.providers.image_sizes),
        "config": {
            "provider": s["provider"],
            "api_key": s["api_key"],
            "model": s["model_image"],
            "quality": s["image_quality"] or "standard",
            "base_url": s["base_url"],
        },
        **withheld(call),
    }


@ops("getRewriteConfig")
async def get_rewrite_config(call: Call) -> Reply:
    if not may_read_keys(call):
        # Not a keyless 200: the plugin caches a successful rewrite config for an hour.
        raise ProviderAccessNotApproved()
    s = await effective(call)
    if not s["api_key"]:
        raise NoProviderKey()
    return {
        "success": True,
        "models": list(s["models"].get("rewrite", [])),
        "config": {
            "provider": s["provider"],
            "api_key": s["api_key"],
            "model": s["model_rewrite"],
            "temperature": s["temperature"],
            "strategies": list(call.services.providers.rewrite_strategies),
            "base_url": s["base_url"],
        },
    }


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


@ops("getStripeConfig")
async def get_stripe_config(call: Call) -> Reply:
    display = await stripe_display(call.services)
    if not display["public_key"]:
        raise NoStripeKey()
    return {"success": True, **display}
