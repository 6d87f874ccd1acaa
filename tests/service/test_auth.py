"""Plugin auth: the Bearer token and X-Instance-ID must belong to the same active site."""

from __future__ import annotations

import re

import httpx

from service.http.contract import Contract
from tests.support.answers import assert_error


async def credits(site, headers: dict[str, str]):
    return await site.service.http.get(
        f"{site.service.url}/api/v1/users/credits", params={"user_id": "1"}, headers=headers
    )


async def test_the_sites_own_token_and_instance_id_are_accepted(site):
    response = await credits(site, site.headers())
    assert response.status_code == 200, response.text


async def test_missing_authorization_is_401_missing_authorization(site):
    headers = site.headers()
    headers.pop("Authorization")
    assert_error(await credits(site, headers), 401, "missing_authorization")


async def test_an_authorization_that_is_not_a_bearer_token_is_401_missing_authorization(site):
    for value in ("", "Bearer", "Basic dXNlcjpwYXNz", "Token abc", "bearer", site.token):
        response = await credits(site, site.headers(Authorization=value))
        assert response.status_code == 401, value
        assert_error(response, 401, "missing_authorization")


async def test_missing_instance_id_is_401_missing_instance_id(site):
    headers = site.headers()
    headers.pop("X-Instance-ID")
    assert_error(await credits(site, headers), 401, "missing_instance_id")
    assert_error(
        await credits(site, site.headers(**{"X-Instance-ID": ""})), 401, "missing_instance_id"
    )


async def test_a_wrong_token_is_401_invalid_credentials(site):
    assert_error(
        await credits(site, site.headers(Authorization="Bearer rk_wrong")),
        401,
        "invalid_credentials",
    )


async def test_an_unknown_instance_is_401_invalid_credentials(site):
    assert_error(
        await credits(site, site.headers(**{"X-Instance-ID": "not-registered"})),
        401,
        "invalid_credentials",
    )


async def test_another_sites_token_with_this_sites_instance_id_is_401(service, site):
    other = await service.register()
    headers = site.headers(Authorization=f"Bearer {other.token}")
    assert_error(await credits(site, headers), 401, "invalid_credentials")
    # and the other way round
    headers = other.headers(Authorization=f"Bearer {site.token}")
    assert_error(await credits(other, headers), 401, "invalid_credentials")


async def test_a_disabled_site_is_403_site_disabled_until_enabled(service, site):
    response = await service.http.post(
        f"{service.url}/api/v1/admin/sites/{site.site_id}/disable",
        json={"reason": "chargeback"},
        headers=service.admin_headers(),
    )
    assert response.status_code == 200, response.text
    body = assert_error(await credits(site, site.headers()), 403, "site_disabled")
    assert body.get("reason") == "chargeback"
    assert_error(
        await site.post(
            "/users/deduct-credits", json={"user_id": 1, "credit_type": "article", "amount": 1}
        ),
        403,
        "site_disabled",
    )
    response = await service.http.post(
        f"{service.url}/api/v1/admin/sites/{site.site_id}/enable", headers=service.admin_headers()
    )
    assert response.status_code == 200, response.text
    assert (await credits(site, site.headers())).status_code == 200


async def test_a_disabled_site_with_a_wrong_token_is_still_401(service, site):
    await service.store.update_site(site.site_id, {"status": "disabled"})
    assert_error(
        await credits(site, site.headers(Authorization="Bearer nope")), 401, "invalid_credentials"
    )


async def test_the_user_agent_is_never_required(site):
    async with httpx.AsyncClient(timeout=10) as bare:
        del bare.headers["user-agent"]
        headers = {k: v for k, v in site.headers().items() if k != "User-Agent"}
        response = await bare.get(
            f"{site.service.url}/api/v1/users/credits", params={"user_id": "1"}, headers=headers
        )
        assert "user-agent" not in response.request.headers
    assert response.status_code == 200, response.text


async def test_any_user_agent_is_accepted(site):
    for agent in (
        "WordPress/6.8.1; https://blog.example.com",
        "curl/8.0",
        "Rakubun-WordPress-Plugin/1.0.0",
    ):
        response = await credits(site, site.headers(**{"User-Agent": agent}))
        assert response.status_code == 200, (agent, response.text)


async def test_every_plugin_operation_refuses_a_call_without_credentials(site):
    contract = Contract.load()
    plugin_ops = [op for op in contract.operations.values() if op.security == "plugin"]
    assert len(plugin_ops) >= 20
    for op in plugin_ops:
        path = re.sub(r"{[^}]+}", site.instance_id, op.path)
        response = await site.service.http.request(
            op.method,
            f"{site.service.url}{path}",
            json={} if op.body_validator else None,
            headers={"X-Instance-ID": site.instance_id},
        )
        assert_error(response, 401, "missing_authorization")
        response = await site.service.http.request(
            op.method,
            f"{site.service.url}{path}",
            json={} if op.body_validator else None,
            headers=site.headers(Authorization="Bearer rk_forged"),
        )
        assert_error(response, 401, "invalid_credentials")


async def test_auth_debug_reports_headers_but_never_the_token(site):
    response = await site.service.http.get(
        f"{site.service.url}/api/v1/auth/debug", headers=site.headers()
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["authenticated"] is True
    assert body["headers"]["authorization_present"] is True
    assert body["headers"]["authorization_scheme"] == "Bearer"
    assert body["headers"]["token_length"] == len(site.token)
    assert body["headers"]["instance_id"] == site.instance_id
    assert body["headers"]["user_agent"] == "Rakubun-WordPress-Plugin/2.2.0"
    assert site.token not in response.text
    assert site.token[3:20] not in response.text


async def test_auth_debug_says_unauthenticated_for_a_wrong_or_missing_token(site):
    http, url = site.service.http, site.service.url
    wrong = await http.get(
        f"{url}/api/v1/auth/debug", headers=site.headers(Authorization="Bearer rk_secret_guess")
    )
    assert wrong.status_code == 200
    assert wrong.json()["authenticated"] is False
    assert "rk_secret_guess" not in wrong.text
    missing = await http.get(f"{url}/api/v1/auth/debug")
    assert missing.status_code == 200
    assert missing.json()["authenticated"] is False
    assert missing.json()["headers"]["authorization_present"] is False
    assert missing.json()["headers"]["token_length"] == 0


async def test_auth_debug_never_echoes_a_token_sent_without_a_scheme(site):
    for value in (site.token, f"Token{site.token}", f"Bearer{site.token}", f"Bearer {site.token}"):
        response = await site.service.http.get(
            f"{site.service.url}/api/v1/auth/debug", headers=site.headers(Authorization=value)
        )
        assert response.status_code == 200, response.text
        assert site.token not in response.text, value
        assert response.json()["headers"]["authorization_present"] is True
