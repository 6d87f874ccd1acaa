"""AI provider and Stripe settings, as the plugin reads them.

The settings and the policy that withholds the deployment's provider keys (PROVIDER_KEY_POLICY)
live in `service/flows/site_config.py`; these handlers shape each operation's answer.
"""

from __future__ import annotations

from typing import Any

from ...errors import NoProviderKey, NoStripeKey, ProviderAccessNotApproved
from ...flows.site_config import (
    choose_provider,
    effective_provider,
    may_read_keys,
    provider_summaries,
    stripe_display,
    withheld,
)
from .registry import Call, Operations, Reply

ops = Operations()


def _provider_reply(call: Call, settings: dict[str, Any]) -> dict[str, Any]:
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
        **withheld(call.services, call.own_site),
    }


def _kind_reply(
    s: dict[str, Any], kind: str, extra: dict[str, Any], config: dict[str, Any]
) -> dict[str, Any]:
    """One kind's (article, image, rewrite) models and settings: `extra` beside the models,
    `config` between the provider's key and model for that kind and its base URL."""
    return {
        "success": True,
        "models": list(s["models"].get(kind, [])),
        **extra,
        "config": {
            "provider": s["provider"],
            "api_key": s["api_key"],
            "model": s[f"model_{kind}"],
            **config,
            "base_url": s["base_url"],
        },
    }


@ops("getProviderConfig")
async def get_provider_config(call: Call) -> Reply:
    settings = await effective_provider(call.services, call.own_site, call.params.get("provider"))
    return _provider_reply(call, settings)


@ops("setProviderChoice")
async def set_provider_choice(call: Call) -> Reply:
    name = call.body["provider"]
    call.site = await choose_provider(call.services, call.own_site, name)
    return _provider_reply(call, await effective_provider(call.services, call.own_site, name))


@ops("listProviders")
async def list_providers(call: Call) -> Reply:
    catalogue = call.services.providers
    choice = call.own_site.config.get("provider")
    return {
        "success": True,
        "providers": await provider_summaries(call.services),
        "default_provider": choice
        if choice is not None and choice in catalogue
        else catalogue.default_provider,
    }


@ops("getOpenAIConfig")
async def get_openai_config(call: Call) -> Reply:
    provider = "openai" if "openai" in call.services.providers else None
    settings = await effective_provider(call.services, call.own_site, provider)
    return {
        "success": True,
        "api_key": settings["api_key"],
        "model": settings["model_article"],
        "image_model": settings["model_image"],
        "max_tokens": settings["max_tokens"],
        "temperature": settings["temperature"],
        "base_url": settings["base_url"],
        **withheld(call.services, call.own_site),
    }


@ops("getArticleConfig")
async def get_article_config(call: Call) -> Reply:
    s = await effective_provider(call.services, call.own_site)
    config = {
        "temperature": s["temperature"],
        "max_tokens": s["max_tokens"],
        "system_prompt": s["system_prompt"],
    }
    return {**_kind_reply(s, "article", {}, config), **withheld(call.services, call.own_site)}


@ops("getImageConfig")
async def get_image_config(call: Call) -> Reply:
    s = await effective_provider(call.services, call.own_site)
    sizes = {"sizes": list(call.services.providers.image_sizes)}
    config = {"quality": s["image_quality"] or "standard"}
    return {**_kind_reply(s, "image", sizes, config), **withheld(call.services, call.own_site)}


@ops("getRewriteConfig")
async def get_rewrite_config(call: Call) -> Reply:
    if not may_read_keys(call.services, call.own_site):
        # Not a keyless 200: the plugin caches a successful rewrite config for an hour.
        raise ProviderAccessNotApproved()
    s = await effective_provider(call.services, call.own_site)
    if not s["api_key"]:
        raise NoProviderKey()
    config = {
        "temperature": s["temperature"],
        "strategies": list(call.services.providers.rewrite_strategies),
    }
    return _kind_reply(s, "rewrite", {}, config)


@ops("getStripeConfig")
async def get_stripe_config(call: Call) -> Reply:
    display = await stripe_display(call.services)
    if not display["public_key"]:
        raise NoStripeKey()
    return {"success": True, **display}
