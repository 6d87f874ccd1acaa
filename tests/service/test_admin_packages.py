"""Admin package management: every change is told to every active site (`package_updated`)."""

from __future__ import annotations

from tests.support.answers import admin, assert_error, told

NEW_PACKAGE = {
    "package_id": "image_business",
    "name": "Image Business",
    "credit_type": "image",
    "credits": 300,
    "price": 3000,
    "currency": "jpy",
    "description": "300 image credits",
    "is_popular": True,
}


async def package_events(service, site_id: str) -> list[dict]:
    return await told(service.store, site_id, "package_updated")


async def public_catalogue(service) -> dict[str, dict]:
    response = await service.http.get(f"{service.url}/api/v1/packages")
    return {p["package_id"]: p for p in response.json()["packages"]["packages"]}


async def test_admins_see_every_package_active_or_not(service):
    await admin(service, "DELETE", "/packages/image_pro")
    response = await admin(service, "GET", "/packages")
    assert response.status_code == 200, response.text
    packages = {p["package_id"]: p for p in response.json()["packages"]}
    assert packages["image_pro"]["active"] is False
    assert packages["article_starter"]["active"] is True


async def test_a_created_package_is_201_sold_and_told_to_active_sites(service, site):
    disabled = await service.register()
    await admin(service, "POST", f"/sites/{disabled.site_id}/disable", json={})
    response = await admin(service, "POST", "/packages", json=NEW_PACKAGE)
    assert response.status_code == 201, response.text
    package = response.json()["package"]
    assert package["currency"] == "JPY" and package["price"] == 3000
    catalogue = await public_catalogue(service)
    assert catalogue["image_business"]["credits"] == 300
    [event] = await package_events(service, site.site_id)
    assert event["action"] == "created" and event["package"]["package_id"] == "image_business"
    assert await package_events(service, disabled.site_id) == []


async def test_a_duplicate_package_id_is_409(service, site):
    assert (await admin(service, "POST", "/packages", json=NEW_PACKAGE)).status_code == 201
    response = await admin(service, "POST", "/packages", json={**NEW_PACKAGE, "price": 1})
    assert_error(response, 409, "duplicate_package")
    assert (await public_catalogue(service))["image_business"]["price"] == 3000
    assert len(await package_events(service, site.site_id)) == 1


async def test_an_update_changes_the_price_and_is_told(service, site):
    response = await admin(
        service, "PUT", "/packages/article_starter", json={"price": 700, "is_popular": True}
    )
    assert response.status_code == 200, response.text
    assert response.json()["package"]["price"] == 700
    assert (await public_catalogue(service))["article_starter"]["price"] == 700
    [event] = await package_events(service, site.site_id)
    assert event["action"] == "updated" and event["package"]["price"] == 700


async def test_an_update_cannot_change_the_id_or_credit_type(service, site):
    for body in (
        {"credit_type": "image"},
        {"package_id": "other"},
        {},
        {"price": 0},
        {"price": 700, "colour": "red"},
    ):
        assert_error(
            await admin(service, "PUT", "/packages/article_starter", json=body),
            400,
            "validation_error",
        )
    assert (await public_catalogue(service))["article_starter"]["credit_type"] == "article"
    assert await package_events(service, site.site_id) == []


async def test_deactivation_removes_the_package_from_sale_and_is_told(service, site):
    response = await admin(service, "DELETE", "/packages/rewrite_pro")
    assert response.status_code == 200, response.text
    assert response.json()["package"]["active"] is False
    assert "rewrite_pro" not in await public_catalogue(service)
    [event] = await package_events(service, site.site_id)
    assert event["action"] == "deactivated"
    reactivated = await admin(service, "PUT", "/packages/rewrite_pro", json={"active": True})
    assert reactivated.json()["package"]["active"] is True
    assert "rewrite_pro" in await public_catalogue(service)


async def test_changing_an_unknown_package_is_404(service, site):
    assert_error(
        await admin(service, "PUT", "/packages/nope", json={"price": 5}), 404, "package_not_found"
    )
    assert_error(await admin(service, "DELETE", "/packages/nope"), 404, "package_not_found")
    assert await package_events(service, site.site_id) == []


async def test_bad_packages_are_400_and_create_nothing(service):
    for change in (
        {"credits": 0},
        {"price": -1},
        {"price": "3000"},
        {"credit_type": "video"},
        {"currency": "YEN!"},
        {"package_id": "Has Caps"},
        {"name": ""},
        {"colour": "red"},
    ):
        response = await admin(service, "POST", "/packages", json={**NEW_PACKAGE, **change})
        assert_error(response, 400, "validation_error")
    assert await service.store.get_package("image_business") is None


async def test_whole_floats_in_a_package_are_stored_and_told_as_integers(service, site):
    floats = {**NEW_PACKAGE, "credits": 300.0, "price": 3e3, "sort_order": 5.0}
    created = await admin(service, "POST", "/packages", json=floats)
    assert created.status_code == 201, created.text
    updated = await admin(service, "PUT", "/packages/image_business", json={"price": 2500.0})
    assert updated.status_code == 200, updated.text

    package = updated.json()["package"]
    stored = await service.store.get_package("image_business")
    told = [event["package"] for event in await package_events(service, site.site_id)]
    for numbers in (created.json()["package"], package, *told):
        assert all(type(numbers[name]) is int for name in ("credits", "price")), numbers
    assert (stored.credits, stored.price, stored.sort_order) == (300, 2500, 5)
    assert all(type(n) is int for n in (stored.credits, stored.price, stored.sort_order))
