"""The /config endpoints: provider settings and Stripe's publishable key, as the plugin reads
them, from the provider catalogue, deployment settings (admin API) and per-site overrides."""

from __future__ import annotations

import pytest

from tests.support.answers import assert_error

OPENAI_KEY = "sk-test-openai-key-value-0001"


@pytest.fixture(autouse=True)
def no_provider_keys_in_the_environment(monkeypatch):
    for name in ("OPENAI_API_KEY", "NOVITA_API_KEY"):
        monkeypatch.delenv(name, raising=False)


async def admin_put(service, path: str, body: dict):
    response = await service.http.put(
        f"{service.url}/api/v1/admin{path}", json=body, headers=service.admin_headers()
    )
    assert response.status_code == 200, response.text
    return response.json()


async def set_key(service, provider: str = "openai", key: str = OPENAI_KEY, **extra):
    return await admin_put(service, f"/config/providers/{provider}", {"api_key": key, **extra})


# ---------------------------------------------------------------- provider
async def test_provider_config_has_the_fields_the_plugin_reads(site):
    response = await site.get("/config/provider", params={"provider": "openai"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["provider"] == "openai"
    assert body["model_article"] == "gpt-4o" and body["model_image"] == "dall-e-3"
    assert body["base_url"] == "https://api.openai.com/v1"
    assert isinstance(body["max_tokens"], int) and isinstance(body["temperature"], float)
    assert body["api_key"] is None


async def test_provider_config_answers_the_key_once_the_admin_sets_it(service, site):
    await set_key(service)
    body = (await site.get("/config/provider", params={"provider": "openai"})).json()
    assert body["api_key"] == OPENAI_KEY


async def test_the_key_can_come_from_the_environment(site, monkeypatch):
    monkeypatch.setenv("NOVITA_API_KEY", "novita-env-key")
    body = (await site.get("/config/provider", params={"provider": "novita"})).json()
    assert body["api_key"] == "novita-env-key"
    assert body["base_url"] == "https://api.novita.ai/v3/openai"


async def test_an_unknown_provider_is_404_provider_not_found(site):
    assert_error(
        await site.get("/config/provider", params={"provider": "skynet"}), 404, "provider_not_found"
    )
    assert_error(
        await site.put("/config/provider", json={"provider": "skynet"}), 404, "provider_not_found"
    )
    assert_error(
        await site.get("/config/provider", params={"provider": "Open AI"}), 400, "validation_error"
    )


async def test_the_sites_provider_choice_is_stored_and_used(site):
    response = await site.put("/config/provider", json={"provider": "novita"})
    assert response.status_code == 200, response.text
    assert response.json()["provider"] == "novita"
    stored = await site.service.store.get_site(site.site_id)
    assert stored.config["provider"] == "novita"
    assert (await site.get("/config/provider")).json()["provider"] == "novita"
    article = (await site.get("/config/article")).json()
    assert article["config"]["model"] == "deepseek/deepseek-v3"
    assert article["config"]["base_url"] == "https://api.novita.ai/v3/openai"
    listing = (await site.get("/config/providers")).json()
    assert listing["default_provider"] == "novita"


async def test_one_sites_choice_does_not_change_another(service, site):
    other = await service.register()
    await site.put("/config/provider", json={"provider": "novita"})
    assert (await other.get("/config/provider")).json()["provider"] == "openai"


async def test_put_provider_requires_a_provider(site):
    body = assert_error(await site.put("/config/provider", json={}), 400, "invalid_request")
    assert body["message"].startswith("Missing required fields: ")


async def test_providers_lists_the_catalogue_without_keys(service, site):
    await set_key(service)
    response = await site.get("/config/providers")
    assert response.status_code == 200, response.text
    providers = {p["name"]: p for p in response.json()["providers"]}
    assert {"openai", "novita"} <= set(providers)
    assert providers["openai"]["has_api_key"] is True
    assert providers["novita"]["has_api_key"] is False
    assert "dall-e-3" in providers["openai"]["models"]["image"]
    assert OPENAI_KEY not in response.text


# ---------------------------------------------------------------- per-kind configs
async def test_openai_config_is_the_legacy_shape(service, site):
    await set_key(service)
    body = (await site.get("/config/openai")).json()
    assert body["success"] is True
    assert body["api_key"] == OPENAI_KEY
    assert body["model"] == "gpt-4o" and body["image_model"] == "dall-e-3"
    assert body["base_url"] == "https://api.openai.com/v1"


async def test_article_config_has_the_fields_the_plugin_reads(site):
    body = (await site.get("/config/article")).json()
    config = body["config"]
    assert body["success"] is True
    assert config["model"] == "gpt-4o"
    assert {"api_key", "temperature", "max_tokens", "system_prompt", "base_url"} <= set(config)
    assert config["system_prompt"]
    assert "gpt-4o" in body["models"]


async def test_image_config_has_the_fields_the_plugin_reads(site):
    body = (await site.get("/config/image")).json()
    assert body["config"]["model"] == "dall-e-3"
    assert body["config"]["quality"] == "standard"
    assert "1024x1024" in body["sizes"]
    assert "dall-e-3" in body["models"]


async def test_rewrite_config_is_404_without_a_key_and_200_after_the_admin_sets_one(service, site):
    assert_error(await site.get("/config/rewrite"), 404, "no_provider_key")
    await set_key(service)
    response = await site.get("/config/rewrite")
    assert response.status_code == 200, response.text
    config = response.json()["config"]
    assert config["api_key"] == OPENAI_KEY
    assert config["model"] == "gpt-4o-mini"
    assert "paraphrase" in config["strategies"]
    assert response.json()["models"]


async def test_deployment_settings_override_the_catalogue(service, site):
    await set_key(
        service,
        model_article="gpt-4.1",
        max_tokens=2000,
        temperature=0.2,
        base_url="https://proxy.example/v1",
    )
    config = (await site.get("/config/article")).json()["config"]
    assert (config["model"], config["max_tokens"], config["temperature"], config["base_url"]) == (
        "gpt-4.1",
        2000,
        0.2,
        "https://proxy.example/v1",
    )


async def test_per_site_overrides_show_up_for_that_site_only(service, site):
    other = await service.register()
    await admin_put(
        service,
        f"/sites/{site.site_id}/config",
        {"model_article": "gpt-4o-mini", "max_tokens": 3000, "image_quality": "hd"},
    )
    mine = (await site.get("/config/article")).json()["config"]
    assert (mine["model"], mine["max_tokens"]) == ("gpt-4o-mini", 3000)
    assert (await site.get("/config/image")).json()["config"]["quality"] == "hd"
    theirs = (await other.get("/config/article")).json()["config"]
    assert (theirs["model"], theirs["max_tokens"]) == ("gpt-4o", 4000)


async def test_an_admin_override_of_an_unknown_provider_is_404(service, site):
    response = await service.http.put(
        f"{service.url}/api/v1/admin/sites/{site.site_id}/config",
        json={"provider": "skynet"},
        headers=service.admin_headers(),
    )
    assert_error(response, 404, "provider_not_found")


# ---------------------------------------------------------------- stripe
async def test_stripe_config_is_404_without_a_public_key(site):
    assert_error(await site.get("/config/stripe"), 404, "no_stripe_key")


async def test_stripe_config_answers_the_public_key_from_the_settings(make_service):
    service = await make_service(
        stripe_public_key="pk_test_settings", stripe_secret_key="sk_test_never_shown"
    )
    site = await service.register()
    response = await site.get("/config/stripe")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "success": True,
        "public_key": "pk_test_settings",
        "currency": "JPY",
        "test_mode": True,
    }
    assert "sk_test_never_shown" not in response.text


async def test_stripe_config_set_by_the_admin_wins(service, site):
    await admin_put(service, "/config/stripe", {"public_key": "pk_live_admin", "currency": "usd"})
    body = (await site.get("/config/stripe")).json()
    assert body["public_key"] == "pk_live_admin"
    assert body["currency"] == "USD"
    assert body["test_mode"] is False


async def test_config_needs_authentication(service):
    for kind in ("provider", "providers", "openai", "article", "image", "rewrite", "stripe"):
        response = await service.http.get(f"{service.url}/api/v1/config/{kind}")
        assert_error(response, 401, "missing_authorization")


async def test_a_choice_the_catalogue_no_longer_has_falls_back_to_the_default(
    make_service, tmp_path
):
    first = await make_service()
    site = await first.register()
    await site.put("/config/provider", json={"provider": "novita"})
    slim = tmp_path / "providers.yaml"
    slim.write_text(
        """
default_provider: openai
providers:
  openai:
    base_url: https://api.openai.com/v1
    models: {article: [gpt-4o], image: [dall-e-3], rewrite: [gpt-4o-mini]}
    defaults: {model_article: gpt-4o, model_image: dall-e-3, model_rewrite: gpt-4o-mini,
               max_tokens: 4000, temperature: 0.7}
""",
        encoding="utf-8",
    )
    second = await make_service(providers_file=slim)  # same store, smaller catalogue
    moved = type(site)(second, site.instance_id, site.registration)
    for kind in ("provider", "providers", "article", "image", "openai"):
        response = await moved.get(f"/config/{kind}")
        assert response.status_code == 200, (kind, response.text)
    assert (await moved.get("/config/provider")).json()["provider"] == "openai"
    assert (await moved.get("/config/providers")).json()["default_provider"] == "openai"
    assert_error(
        await moved.get("/config/provider", params={"provider": "novita"}),
        404,
        "provider_not_found",
    )


async def test_keys_tokens_and_secrets_are_never_logged(make_service, caplog):
    caplog.set_level("DEBUG")
    service = await make_service(access_log=True, stripe_secret_key="sk_test_logged_never")
    site = await service.register()
    await set_key(service)
    for kind in ("provider", "article", "image", "rewrite", "openai"):
        assert (await site.get(f"/config/{kind}")).status_code == 200
    await site.get("/config/provider", params={"provider": "nope"})
    await site.service.http.get(f"{service.url}/api/v1/auth/debug", headers=site.headers())
    assert "/api/v1/config/article" in caplog.text  # the access log is on
    for secret in (OPENAI_KEY, site.token, site.webhook_secret, "sk_test_logged_never"):
        assert secret not in caplog.text
