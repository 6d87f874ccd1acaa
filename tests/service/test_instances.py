"""GET/PUT /instances/{instance_id}: a site reads and updates its own record only."""

from __future__ import annotations

from tests.support.answers import assert_error


async def test_a_site_reads_its_own_record_without_secrets(site):
    response = await site.get(f"/instances/{site.instance_id}")
    assert response.status_code == 200, response.text
    instance = response.json()["instance"]
    assert instance["instance_id"] == site.instance_id
    assert instance["site_id"] == site.site_id
    assert instance["status"] == "active"
    assert site.token not in response.text
    assert site.webhook_secret not in response.text
    assert "token_hash" not in instance and "webhook_secret" not in instance


async def test_another_instance_is_404_whether_it_exists_or_not(service, site):
    other = await service.register()
    assert_error(await site.get(f"/instances/{other.instance_id}"), 404, "instance_not_found")
    assert_error(await site.get("/instances/no-such-instance"), 404, "instance_not_found")
    assert_error(
        await site.put(f"/instances/{other.instance_id}", json={"theme": "Evil"}),
        404,
        "instance_not_found",
    )
    assert "theme" not in (await service.store.get_site(other.site_id)).metadata


async def test_an_update_changes_the_metadata_and_keeps_the_rest(site):
    await site.put(f"/instances/{site.instance_id}", json={"theme": "Old", "post_count": 1})
    response = await site.put(
        f"/instances/{site.instance_id}",
        json={
            "plugin_version": "2.2.1",
            "wordpress_version": "6.8.2",
            "post_count": "43",
            "last_activity": "2025-11-07 10:00:00",
            "admin_email": "new-admin@example.com",
            "site_url": "http://127.0.0.1:9/blog/",
        },
    )
    assert response.status_code == 200, response.text
    instance = response.json()["instance"]
    assert instance["metadata"]["plugin_version"] == "2.2.1"
    assert instance["metadata"]["post_count"] == "43"
    assert instance["metadata"]["theme"] == "Old"  # merged, not replaced
    assert instance["admin_email"] == "new-admin@example.com"
    assert instance["site_url"] == "http://127.0.0.1:9/blog"
    stored = await site.service.store.get_site(site.site_id)
    assert stored.metadata["wordpress_version"] == "6.8.2"
    assert stored.admin_email == "new-admin@example.com"


async def test_an_update_cannot_touch_tokens_secrets_status_or_ids(site):
    before = await site.service.store.get_site(site.site_id)
    for field in ("api_token", "webhook_secret", "token_hash", "status", "site_id", "instance_id"):
        response = await site.put(
            f"/instances/{site.instance_id}", json={"theme": "T", field: "attacker-value"}
        )
        assert response.status_code == 400, field
        assert_error(response, 400, "validation_error")
    assert await site.service.store.get_site(site.site_id) == before
    assert (await site.get(f"/instances/{site.instance_id}")).status_code == 200


async def test_bad_updates_are_400(site):
    for body in (
        {},
        {"admin_email": "nope"},
        {"site_url": "nope"},
        {"post_count": -2},
        {"activation_date": "yesterday"},
        {"activation_date": {"nested": 1}},
    ):
        assert_error(
            await site.put(f"/instances/{site.instance_id}", json=body), 400, "validation_error"
        )
