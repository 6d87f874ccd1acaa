"""The admin API's door and its sites: list, get, disable/enable (the plugin is told), users,
per-site config, webhook deliveries, test webhooks and retries."""

from __future__ import annotations

import json

from tests.support.answers import admin, admin_ok, assert_error


async def events(service, site_id: str) -> list[tuple[str, dict]]:
    """The plugin webhooks enqueued for a site, oldest first, as (event, data)."""
    deliveries = await service.store.list_webhook_deliveries(site_id, limit=200)
    return [(d.event, json.loads(d.body)["data"]) for d in reversed(deliveries)]


# ---------------------------------------------------------------- the door
async def test_without_an_admin_token_configured_the_admin_api_is_503(make_service):
    service = await make_service(admin_api_token=None)
    for method, path in (
        ("GET", "/sites"),
        ("GET", "/stats"),
        ("POST", "/reconcile"),
        ("GET", "/config/stripe"),
    ):
        response = await service.http.request(
            method,
            f"{service.url}/api/v1/admin{path}",
            headers={"Authorization": "Bearer anything"},
        )
        assert_error(response, 503, "admin_not_configured")


async def test_a_wrong_or_missing_admin_token_is_401(service, site):
    url = f"{service.url}/api/v1/admin/sites"
    assert_error(await service.http.get(url), 401, "missing_authorization")
    assert_error(
        await service.http.get(url, headers={"Authorization": "Bearer wrong"}),
        401,
        "invalid_credentials",
    )
    # a site's own token opens nothing here
    assert_error(await service.http.get(url, headers=site.headers()), 401, "invalid_credentials")


async def test_every_admin_operation_is_closed_without_the_token(service, site):
    from service.http.contract import Contract

    for op in Contract.load().operations.values():
        if op.security != "admin":
            continue
        path = (
            op.path.replace("{site_id}", site.site_id)
            .replace("{user_id}", "1")
            .replace("{package_id}", "article_starter")
            .replace("{provider}", "openai")
            .replace("{delivery_id}", "d1")
        )
        response = await service.http.request(
            op.method, f"{service.url}{path}", json={}, headers={"Authorization": "Bearer wrong"}
        )
        assert_error(response, 401, "invalid_credentials")
    assert (await service.store.get_site(site.site_id)).status == "active"


# ---------------------------------------------------------------- sites
async def test_sites_are_listed_newest_first_with_paging_and_status_filter(service):
    first, second, third = [await service.register() for _ in range(3)]
    await admin(service, "POST", f"/sites/{second.site_id}/disable", json={})
    listing = (await admin(service, "GET", "/sites")).json()
    assert [s["site_id"] for s in listing["sites"]] == [
        third.site_id,
        second.site_id,
        first.site_id,
    ]
    page = (await admin(service, "GET", "/sites", params={"limit": "1", "offset": "1"})).json()
    assert [s["site_id"] for s in page["sites"]] == [second.site_id]
    disabled = (await admin(service, "GET", "/sites", params={"status": "disabled"})).json()
    assert [s["site_id"] for s in disabled["sites"]] == [second.site_id]
    for shown in listing["sites"]:
        assert "token_hash" not in shown and "webhook_secret" not in shown
    assert first.token not in json.dumps(listing) and first.webhook_secret not in json.dumps(
        listing
    )


async def test_one_site_is_shown_with_its_config(service, site):
    shown = (await admin_ok(service, "GET", f"/sites/{site.site_id}"))["site"]
    assert shown["instance_id"] == site.instance_id and shown["status"] == "active"
    assert shown["config"] == {}
    assert_error(await admin(service, "GET", "/sites/site_missing"), 404, "site_not_found")


async def test_disabling_tells_the_plugin_once_with_the_reason(service, site):
    reason = {"reason": "Payment dispute under review"}
    shown = (await admin_ok(service, "POST", f"/sites/{site.site_id}/disable", json=reason))["site"]
    assert (shown["status"], shown["disabled_reason"]) == ("disabled", reason["reason"])
    await admin(service, "POST", f"/sites/{site.site_id}/disable", json={})  # already disabled
    assert await events(service, site.site_id) == [("plugin_disabled", reason)]


async def test_disabling_without_a_body_gives_a_default_reason(service, site):
    await admin_ok(service, "POST", f"/sites/{site.site_id}/disable")
    [(event, data)] = await events(service, site.site_id)
    assert event == "plugin_disabled" and data["reason"]


async def test_enabling_tells_the_plugin_once(service, site):
    await admin(service, "POST", f"/sites/{site.site_id}/enable")  # already active: no event
    assert await events(service, site.site_id) == []
    await admin(service, "POST", f"/sites/{site.site_id}/disable", json={"reason": "x"})
    shown = (await admin_ok(service, "POST", f"/sites/{site.site_id}/enable"))["site"]
    assert (shown["status"], shown["disabled_reason"]) == ("active", None)
    assert [e for e, _ in await events(service, site.site_id)] == [
        "plugin_disabled",
        "plugin_enabled",
    ]


async def test_status_changes_of_an_unknown_site_are_404(service):
    for action in ("disable", "enable"):
        assert_error(
            await admin(service, "POST", f"/sites/site_nope/{action}", json={}),
            404,
            "site_not_found",
        )


async def test_the_users_of_a_site_with_their_balances(service, site):
    other = await service.register()
    await site.credits(1)
    await site.post(
        "/users/deduct-credits",
        json={"user_id": 2, "user_email": "two@example.com", "credit_type": "image", "amount": 3},
    )
    await other.credits(99)
    listing = await admin_ok(service, "GET", f"/sites/{site.site_id}/users")
    users = {u["user_id"]: u for u in listing["users"]}
    assert set(users) == {"1", "2"}
    assert users["2"]["user_email"] == "two@example.com"
    assert users["2"]["credits"] == {"article_credits": 5, "image_credits": 7, "rewrite_credits": 3}
    assert_error(await admin(service, "GET", "/sites/site_nope/users"), 404, "site_not_found")


async def test_per_site_config_is_stored_and_the_plugin_is_told(service, site):
    config = {"model_article": "gpt-4o-mini", "max_tokens": 3000}
    stored = await admin_ok(service, "PUT", f"/sites/{site.site_id}/config", json=config)
    assert stored["config"] == config
    assert (await service.store.get_site(site.site_id)).config["max_tokens"] == 3000
    [(event, data)] = await events(service, site.site_id)
    assert event == "config_updated"
    assert data["keys"] == ["max_tokens", "model_article"]
    assert_error(
        await admin(service, "PUT", f"/sites/{site.site_id}/config", json={"max_tokens": 0}),
        400,
        "validation_error",
    )


# ---------------------------------------------------------------- webhooks
async def test_a_test_webhook_is_enqueued_and_listed(service, site):
    delivery = (await admin_ok(service, "POST", f"/sites/{site.site_id}/webhooks/test"))["delivery"]
    assert delivery["event"] == "test_webhook"
    assert delivery["url"] == "http://127.0.0.1:9/wp-admin/admin-ajax.php?action=rakubun_webhook"
    assert delivery["body"]["instance_id"] == site.instance_id
    listing = (await admin(service, "GET", f"/sites/{site.site_id}/webhooks")).json()
    assert [d["delivery_id"] for d in listing["deliveries"]] == [delivery["delivery_id"]]
    assert site.webhook_secret not in json.dumps(listing)
    assert_error(
        await admin(service, "POST", "/sites/site_nope/webhooks/test"), 404, "site_not_found"
    )


async def test_a_delivery_can_be_retried_and_an_unknown_one_is_404(service, site):
    delivery = (await admin(service, "POST", f"/sites/{site.site_id}/webhooks/test")).json()[
        "delivery"
    ]
    retried = (await admin_ok(service, "POST", f"/webhooks/{delivery['delivery_id']}/retry"))[
        "delivery"
    ]
    assert (retried["status"], retried["delivery_id"]) == ("pending", delivery["delivery_id"])
    assert_error(
        await admin(service, "POST", "/webhooks/wd_unknown/retry"), 404, "delivery_not_found"
    )


async def test_a_malformed_site_id_is_400(service):
    for site_id in ("bad id", "x" * 65, "a.b"):
        assert_error(await admin(service, "GET", f"/sites/{site_id}"), 400, "validation_error")
