"""An admin releases an instance id that someone else holds (squatted, or its token lost): the
next registration gets new credentials, the old token stops working, the old site's history
stays."""

from __future__ import annotations

import uuid

from tests.support.service import RunningService, Site


async def release(service: RunningService, instance_id: str):
    return await service.http.post(
        f"{service.url}/api/v1/admin/instances/{instance_id}/release",
        headers=service.admin_headers(),
    )


async def register(service: RunningService, instance_id: str, site_url: str):
    return await service.http.post(
        f"{service.url}/api/v1/plugins/register",
        json={"instance_id": instance_id, "site_url": site_url, "admin_email": "owner@example.com"},
    )


async def squatted(service: RunningService) -> Site:
    """A site that registered first, with a balance change in its ledger (its webhook goes to
    127.0.0.1, where nothing listens on the discard port)."""
    squatter = await service.register(site_url="http://127.0.0.1:9/squatter")
    spent = await squatter.post(
        "/users/deduct-credits",
        json={"user_id": 1, "user_email": "u@example.com", "credit_type": "article", "amount": 2},
    )
    assert spent.status_code == 200, spent.text
    return squatter


async def test_the_owner_registers_after_a_release_with_new_credentials(service):
    squatter = await squatted(service)
    refused = await register(service, squatter.instance_id, "http://127.0.0.1:9/owner")
    assert refused.status_code == 409

    released = await release(service, squatter.instance_id)
    again = await register(service, squatter.instance_id, "http://127.0.0.1:9/owner")

    assert released.status_code == 200, released.text
    assert released.json()["released_instance_id"] == squatter.instance_id
    assert again.status_code == 200, again.text
    owner = again.json()
    assert owner["site_id"] != squatter.site_id
    assert owner["api_token"] != squatter.token
    assert owner["webhook_secret"] != squatter.webhook_secret
    owner_site = Site(service, squatter.instance_id, owner)
    assert (await owner_site.get(f"/instances/{squatter.instance_id}")).json()["instance"][
        "site_url"
    ] == "http://127.0.0.1:9/owner"


async def test_the_old_token_answers_401_after_the_release(service):
    squatter = await squatted(service)
    await release(service, squatter.instance_id)
    before_reregistration = await squatter.get("/users/credits", params={"user_id": "1"})
    await register(service, squatter.instance_id, "http://127.0.0.1:9/owner")
    after_reregistration = await squatter.get("/users/credits", params={"user_id": "1"})

    for response in (before_reregistration, after_reregistration):
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_credentials"


async def test_the_released_site_keeps_its_users_and_ledger_and_stays_disabled(service):
    squatter = await squatted(service)
    released = (await release(service, squatter.instance_id)).json()["site"]

    assert released["site_id"] == squatter.site_id
    assert released["released"] is True and released["status"] == "disabled"
    assert released["instance_id"] == f"released/{squatter.site_id}"
    assert released["metadata"]["released_instance_id"] == squatter.instance_id
    ledger = await service.store.list_ledger(site_id=squatter.site_id, limit=50)
    assert any(e.delta == -2 for e in ledger)
    enable = await service.http.post(
        f"{service.url}/api/v1/admin/sites/{squatter.site_id}/enable",
        headers=service.admin_headers(),
    )
    assert enable.status_code == 409 and enable.json()["error"] == "site_released"
    reconcile = await service.http.post(
        f"{service.url}/api/v1/admin/reconcile", headers=service.admin_headers()
    )
    assert reconcile.json()["ok"] is True


async def test_releasing_an_instance_nobody_holds_is_404(service):
    response = await release(service, str(uuid.uuid4()))
    assert response.status_code == 404 and response.json()["error"] == "instance_not_found"


async def test_release_needs_the_admin_token(service, site):
    response = await service.http.post(
        f"{service.url}/api/v1/admin/instances/{site.instance_id}/release",
        headers={"Authorization": f"Bearer {site.token}"},
    )
    assert response.status_code == 401
    assert (await site.get("/users/credits", params={"user_id": "1"})).status_code == 200


async def test_an_instance_can_be_released_again_after_reregistration(service):
    squatter = await squatted(service)
    await release(service, squatter.instance_id)
    second = (await register(service, squatter.instance_id, "http://127.0.0.1:9/second")).json()
    assert (await release(service, squatter.instance_id)).status_code == 200
    third = await register(service, squatter.instance_id, "http://127.0.0.1:9/third")

    assert third.status_code == 200, third.text
    assert len({squatter.site_id, second["site_id"], third.json()["site_id"]}) == 3
