"""POST /plugins/register: a site gets a fresh token and webhook secret, answered once."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

from tests.support.answers import assert_error

REGISTRATION = {
    "site_url": "https://blog.example.com/",
    "site_title": "テストブログ",
    "admin_email": "admin@example.com",
    "wordpress_version": "6.8.1",
    "plugin_version": "2.2.0",
    "php_version": "8.2.28",
    "theme": "Twenty Twenty-Five",
    "timezone": "Asia/Tokyo",
    "language": "ja",
    "post_count": 42,
    "page_count": "3",
    "activation_date": "2025-11-06 09:15:45",
    "last_activity": "2025-11-06 09:15:45",
}


async def register(service, **body):
    return await service.http.post(
        f"{service.url}/api/v1/plugins/register",
        json=body,
        headers={"User-Agent": "Rakubun-WordPress-Plugin/2.2.0"},
    )


async def site_count(service) -> int:
    return len(await service.store.list_sites(limit=200))


async def test_registration_answers_a_token_and_a_webhook_secret(service):
    instance_id = str(uuid.uuid4())
    response = await register(service, instance_id=instance_id, **REGISTRATION)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["instance_id"] == instance_id
    assert body["site_id"]
    assert isinstance(body["api_token"], str) and len(body["api_token"]) >= 43
    assert isinstance(body["webhook_secret"], str) and len(body["webhook_secret"]) >= 32


async def test_the_token_is_stored_only_as_its_sha256(service):
    response = await register(service, instance_id="hash-check", **REGISTRATION)
    token = response.json()["api_token"]
    stored = await service.store.get_site_by_instance("hash-check")
    assert stored.token_hash != token
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(stored.public())


async def test_tokens_and_secrets_are_fresh_for_every_site(service):
    first = (await register(service, instance_id="one", **REGISTRATION)).json()
    second = (await register(service, instance_id="two", **REGISTRATION)).json()
    assert first["api_token"] != second["api_token"]
    assert first["webhook_secret"] != second["webhook_secret"]
    assert first["site_id"] != second["site_id"]


async def test_the_site_record_keeps_the_plugin_metadata(service):
    response = await register(service, instance_id="meta", **REGISTRATION)
    stored = await service.store.get_site_by_instance("meta")
    assert stored.site_id == response.json()["site_id"]
    assert stored.site_url == "https://blog.example.com"  # trailing slash dropped
    assert stored.admin_email == "admin@example.com"
    assert stored.status == "active"
    assert stored.metadata["site_title"] == "テストブログ"
    assert stored.metadata["post_count"] == 42
    assert stored.metadata["activation_date"] == "2025-11-06 09:15:45"
    assert stored.webhook_secret == response.json()["webhook_secret"]


async def test_the_new_token_works_at_once(service):
    body = (await register(service, instance_id="works", **REGISTRATION)).json()
    response = await service.http.get(
        f"{service.url}/api/v1/users/credits",
        params={"user_id": "1"},
        headers={"Authorization": f"Bearer {body['api_token']}", "X-Instance-ID": "works"},
    )
    assert response.status_code == 200, response.text


async def test_registration_accepts_unknown_extra_fields(service):
    response = await register(
        service, instance_id="extra", **REGISTRATION, multisite=False, locale_extra={"a": 1}
    )
    assert response.status_code == 200, response.text


async def test_a_duplicate_instance_is_409_without_any_secret(service):
    first = (await register(service, instance_id="dup", **REGISTRATION)).json()
    response = await register(
        service,
        instance_id="dup",
        site_url="https://other.example",
        admin_email="attacker@example.com",
    )
    body = assert_error(response, 409, "duplicate_instance")
    assert "api_token" not in body and "webhook_secret" not in body
    assert first["api_token"] not in response.text
    assert first["webhook_secret"] not in response.text
    stored = await service.store.get_site_by_instance("dup")
    assert stored.admin_email == "admin@example.com"  # the first registration is untouched
    assert stored.site_url == "https://blog.example.com"
    assert await site_count(service) == 1


async def test_a_missing_required_field_is_400_and_creates_nothing(service):
    for missing in ("instance_id", "site_url", "admin_email"):
        body = {"instance_id": "missing", **REGISTRATION}
        body.pop(missing)
        answer = assert_error(await register(service, **body), 400, "invalid_request")
        assert answer["message"] == f"Missing required fields: {missing}"
    assert await site_count(service) == 0


async def test_malformed_values_are_400_and_create_nothing(service):
    bad = [
        {"site_url": "blog.example.com"},
        {"site_url": "javascript:alert(1)"},
        {"site_url": "https://"},
        {"site_url": "https://exa mple.com"},
        {"site_url": ""},
        {"admin_email": "admin"},
        {"admin_email": "admin@localhost"},
        {"admin_email": "a b@example.com"},
        {"admin_email": ""},
        {"instance_id": ""},
        {"instance_id": "has space"},
        {"instance_id": "x" * 65},
        {"instance_id": 123},
        {"site_title": 5},
        {"post_count": "many"},
        {"post_count": -1},
        {"last_activity": "06/11/2025"},
    ]
    for change in bad:
        response = await register(service, **{"instance_id": "bad", **REGISTRATION, **change})
        assert_error(response, 400, "validation_error")
    assert await site_count(service) == 0


async def test_registration_needs_no_authorization(service):
    response = await register(
        service, instance_id="anon", site_url="http://localhost:8080", admin_email="a@example.com"
    )
    assert "Authorization" not in response.request.headers
    assert response.status_code == 200, response.text


async def test_concurrent_registrations_of_one_instance_create_one_site(service):
    responses = await asyncio.gather(
        *(register(service, instance_id="race", **REGISTRATION) for _ in range(6))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 5
    winner = next(r for r in responses if r.status_code == 200).json()
    for loser in (r for r in responses if r.status_code == 409):
        assert winner["api_token"] not in loser.text
        assert "api_token" not in loser.json()
    stored = await service.store.get_site_by_instance("race")
    assert stored.site_id == winner["site_id"]
    assert await site_count(service) == 1
