"""Admin Stripe and provider settings: secrets are never shown, changes are told to sites."""

from __future__ import annotations

import json

from tests.support.answers import admin, assert_error

SECRET_KEY = "sk_test_admin_never_shown_123"
WEBHOOK_SECRET = "whsec_admin_never_shown_456"
PROVIDER_KEY = "sk-provider-never-listed-789"


async def config_events(service, site_id: str) -> list[tuple[dict, str]]:
    deliveries = await service.store.list_webhook_deliveries(site_id, limit=200)
    return [
        (json.loads(d.body)["data"], d.body)
        for d in reversed(deliveries)
        if d.event == "config_updated"
    ]


async def test_stripe_config_shows_secrets_only_as_configured(make_service):
    service = await make_service(
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_public_key="pk_test_env",
    )
    response = await admin(service, "GET", "/config/stripe")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["secret_key_configured"] is True and body["webhook_secret_configured"] is True
    assert body["public_key"] == "pk_test_env" and body["currency"] == "JPY"
    assert SECRET_KEY not in response.text and WEBHOOK_SECRET not in response.text


async def test_stripe_config_without_keys(service):
    body = (await admin(service, "GET", "/config/stripe")).json()
    assert body["secret_key_configured"] is False
    assert body["public_key"] is None


async def test_setting_stripe_config_is_stored_and_told(make_service):
    service = await make_service(stripe_secret_key=SECRET_KEY)
    site = await service.register()
    response = await admin(
        service,
        "PUT",
        "/config/stripe",
        json={"public_key": "pk_test_new", "currency": "usd", "test_mode": True},
    )
    assert response.status_code == 200, response.text
    assert response.json()["public_key"] == "pk_test_new"
    assert response.json()["currency"] == "USD"
    assert SECRET_KEY not in response.text
    assert (await site.get("/config/stripe")).json()["public_key"] == "pk_test_new"
    [(data, _)] = await config_events(service, site.site_id)
    assert data["scope"] == "stripe"


async def test_a_secret_key_cannot_be_set_through_the_api(service):
    for body in (
        {"public_key": "sk_test_oops"},
        {"secret_key": "sk_test_x"},
        {"public_key": "pk_test_ok", "webhook_secret": "whsec_x"},
        {},
    ):
        response = await admin(service, "PUT", "/config/stripe", json=body)
        assert_error(response, 400, "validation_error")
        assert "sk_test_x" not in response.text
    assert await service.store.get_setting("stripe") is None


async def test_unknown_admin_settings_are_refused_not_stored(service, site):
    for path, body in (
        (f"/sites/{site.site_id}/config", {"model": "gpt-4o"}),
        ("/config/providers/openai", {"apikey": "sk-typo"}),
    ):
        assert_error(await admin(service, "PUT", path, json=body), 400, "validation_error")
    assert (await service.store.get_site(site.site_id)).config == {}
    assert await service.store.get_setting("provider:openai") is None
    assert await config_events(service, site.site_id) == []


async def test_provider_keys_are_never_listed_or_sent_to_sites(service, site):
    response = await admin(
        service,
        "PUT",
        "/config/providers/openai",
        json={"api_key": PROVIDER_KEY, "model_article": "gpt-4.1"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["provider"]["has_api_key"] is True
    assert response.json()["provider"]["defaults"]["model_article"] == "gpt-4.1"
    assert PROVIDER_KEY not in response.text
    listing = await admin(service, "GET", "/config/providers")
    assert listing.status_code == 200
    assert PROVIDER_KEY not in listing.text
    openai = next(p for p in listing.json()["providers"] if p["name"] == "openai")
    assert openai["has_api_key"] is True
    [(data, raw)] = await config_events(service, site.site_id)
    assert data["scope"] == "provider" and data["provider"] == "openai"
    assert "api_key" in data["keys"]
    assert PROVIDER_KEY not in raw


async def test_a_provider_key_can_be_removed(service, site, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    await admin(service, "PUT", "/config/providers/openai", json={"api_key": PROVIDER_KEY})
    assert (await site.get("/config/rewrite")).status_code == 200
    await admin(service, "PUT", "/config/providers/openai", json={"api_key": None})
    assert_error(await site.get("/config/rewrite"), 404, "no_provider_key")


async def test_an_unknown_provider_is_404_and_bad_settings_400(service):
    assert_error(
        await admin(service, "PUT", "/config/providers/skynet", json={"api_key": "x"}),
        404,
        "provider_not_found",
    )
    for body in ({}, {"temperature": 3}, {"max_tokens": 0}, {"base_url": "not a url"}):
        assert_error(
            await admin(service, "PUT", "/config/providers/openai", json=body),
            400,
            "validation_error",
        )
    assert await service.store.get_setting("provider:openai") is None
