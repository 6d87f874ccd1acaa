"""Provider keys go only to sites the policy allows: under `PROVIDER_KEY_POLICY=approved` (the
service's default) a site reads the deployment's keys once an admin approved it; before, it
gets the same settings with `api_key: null` and a reason, and the plugin keeps working."""

from __future__ import annotations

import pytest

from service.settings import Settings
from tests.support.answers import told
from tests.support.service import RunningService, Site

OPENAI_KEY = "sk-test-openai-key-value-0001"
#: Every config call that carries a key, and where the key sits in its answer.
KEYED_CALLS = [
    ("/config/provider?provider=openai", ("api_key",)),
    ("/config/provider", ("api_key",)),
    ("/config/openai", ("api_key",)),
    ("/config/article", ("config", "api_key")),
    ("/config/image", ("config", "api_key")),
]


@pytest.fixture(autouse=True)
def no_provider_keys_in_the_environment(monkeypatch):
    for name in ("OPENAI_API_KEY", "NOVITA_API_KEY"):
        monkeypatch.delenv(name, raising=False)


async def approved_policy_service(make_service) -> RunningService:
    service = await make_service(provider_key_policy="approved")
    response = await service.http.put(
        f"{service.url}/api/v1/admin/config/providers/openai",
        json={"api_key": OPENAI_KEY},
        headers=service.admin_headers(),
    )
    assert response.status_code == 200, response.text
    return service


async def set_access(service: RunningService, site: Site, approved: bool):
    return await service.http.put(
        f"{service.url}/api/v1/admin/sites/{site.site_id}/provider-access",
        json={"approved": approved},
        headers=service.admin_headers(),
    )


def key_of(body: dict, where: tuple[str, ...]):
    for step in where:
        body = body[step]
    return body


def test_the_service_defaults_to_approved_sites_only():
    assert Settings.from_env({}).provider_key_policy == "approved"
    assert Settings.from_env({"PROVIDER_KEY_POLICY": "all"}).provider_key_policy == "all"
    with pytest.raises(ValueError, match="PROVIDER_KEY_POLICY"):
        Settings.from_env({"PROVIDER_KEY_POLICY": "some"})


@pytest.mark.parametrize(("path", "where"), KEYED_CALLS)
async def test_a_site_not_approved_gets_its_settings_without_the_key_and_a_reason(
    make_service, path, where
):
    service = await approved_policy_service(make_service)
    site = await service.register()

    response = await site.get(path)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert key_of(body, where) is None
    assert body["api_key_withheld"]["reason"] == "provider_access_not_approved"
    assert body["api_key_withheld"]["message"]
    assert OPENAI_KEY not in response.text


async def test_choosing_a_provider_does_not_reveal_its_key_either(make_service):
    service = await approved_policy_service(make_service)
    site = await service.register()

    response = await site.put("/config/provider", json={"provider": "openai"})

    assert response.status_code == 200, response.text
    assert response.json()["api_key"] is None and OPENAI_KEY not in response.text


async def test_rewrite_config_is_403_for_a_site_not_approved(make_service):
    service = await approved_policy_service(make_service)
    site = await service.register()

    response = await site.get("/config/rewrite")

    assert response.status_code == 403, response.text
    assert response.json()["error"] == "provider_access_not_approved"
    assert OPENAI_KEY not in response.text


@pytest.mark.parametrize(("path", "where"), KEYED_CALLS)
async def test_an_approved_site_reads_the_key(make_service, path, where):
    service = await approved_policy_service(make_service)
    site = await service.register()
    approved = await set_access(service, site, True)
    assert approved.status_code == 200, approved.text
    assert approved.json()["site"]["provider_access"] == "approved"

    body = (await site.get(path)).json()

    assert key_of(body, where) == OPENAI_KEY
    assert "api_key_withheld" not in body


async def test_approval_is_per_site_and_can_be_revoked(make_service):
    service = await approved_policy_service(make_service)
    approved_site, other_site = await service.register(), await service.register()
    await set_access(service, approved_site, True)

    assert (await other_site.get("/config/openai")).json()["api_key"] is None
    assert (await approved_site.get("/config/rewrite")).json()["config"]["api_key"] == OPENAI_KEY

    revoked = await set_access(service, approved_site, False)
    assert revoked.json()["site"]["provider_access"] == "not_approved"
    assert (await approved_site.get("/config/openai")).json()["api_key"] is None
    assert (await approved_site.get("/config/rewrite")).status_code == 403


async def test_a_change_of_access_tells_the_plugin_once(make_service):
    service = await approved_policy_service(make_service)
    site = await service.register()
    for approved in (True, True, False):
        await set_access(service, site, approved)

    assert await told(service.store, site.site_id, "config_updated") == [
        {"scope": "provider_access", "approved": True},
        {"scope": "provider_access", "approved": False},
    ]


async def test_site_overrides_survive_approval_and_approval_survives_overrides(make_service):
    service = await approved_policy_service(make_service)
    site = await service.register()
    overridden = await service.http.put(
        f"{service.url}/api/v1/admin/sites/{site.site_id}/config",
        json={"model_article": "gpt-4o-mini"},
        headers=service.admin_headers(),
    )
    assert overridden.status_code == 200, overridden.text
    before = (await site.get("/config/provider")).json()
    assert before["api_key"] is None and before["model_article"] == "gpt-4o-mini"

    assert (await set_access(service, site, True)).status_code == 200
    await service.http.put(
        f"{service.url}/api/v1/admin/sites/{site.site_id}/config",
        json={"max_tokens": 1234},
        headers=service.admin_headers(),
    )
    body = (await site.get("/config/provider")).json()

    assert body["api_key"] == OPENAI_KEY and body["model_article"] == "gpt-4o-mini"
    assert body["max_tokens"] == 1234


async def test_under_the_all_policy_every_site_reads_the_key(make_service):
    service = await make_service(provider_key_policy="all")
    await service.http.put(
        f"{service.url}/api/v1/admin/config/providers/openai",
        json={"api_key": OPENAI_KEY},
        headers=service.admin_headers(),
    )
    site = await service.register()

    body = (await site.get("/config/openai")).json()

    assert body["api_key"] == OPENAI_KEY and "api_key_withheld" not in body


async def test_provider_access_of_an_unknown_site_is_404(make_service):
    service = await make_service(provider_key_policy="approved")
    response = await service.http.put(
        f"{service.url}/api/v1/admin/sites/site_missing/provider-access",
        json={"approved": True},
        headers=service.admin_headers(),
    )
    assert response.status_code == 404 and response.json()["error"] == "site_not_found"
