"""GET /packages: the active catalogue, grouped as the plugin reads it, plus a flat list."""

from __future__ import annotations

DEFAULT = {
    "article_starter": ("article", 10, 750),
    "article_pro": ("article", 50, 3000),
    "article_business": ("article", 100, 5500),
    "image_starter": ("image", 20, 300),
    "image_pro": ("image", 100, 1200),
    "rewrite_starter": ("rewrite", 50, 3000),
    "rewrite_pro": ("rewrite", 150, 8000),
}


async def packages(service):
    return await service.http.get(f"{service.url}/api/v1/packages")


async def test_the_default_catalogue_is_seeded_on_first_start(service):
    response = await packages(service)
    assert response.status_code == 200, response.text
    grouped = response.json()["packages"]
    flat = {
        p["package_id"]: (p["credit_type"], p["credits"], p["price"]) for p in grouped["packages"]
    }
    for package_id, terms in DEFAULT.items():
        assert flat[package_id] == terms
    assert "rewrite_business" in flat  # the plugin asks for it
    assert all(p["currency"] == "JPY" for p in grouped["packages"])


async def test_packages_are_grouped_by_credit_type(service):
    grouped = (await packages(service)).json()["packages"]
    assert {p["credit_type"] for p in grouped["articles"]} == {"article"}
    assert {p["credit_type"] for p in grouped["images"]} == {"image"}
    assert {p["credit_type"] for p in grouped["rewrites"]} == {"rewrite"}
    assert len(grouped["articles"]) + len(grouped["images"]) + len(grouped["rewrites"]) == len(
        grouped["packages"]
    )
    assert [p["package_id"] for p in grouped["articles"]] == [
        "article_starter",
        "article_pro",
        "article_business",
    ]


async def test_every_package_has_the_fields_the_plugin_reads(service):
    for package in (await packages(service)).json()["packages"]["packages"]:
        assert package["id"] == package["package_id"]
        assert isinstance(package["price"], int)
        for field in ("name", "description", "currency"):
            assert isinstance(package[field], str)
        assert isinstance(package["is_popular"], bool)


async def test_packages_need_no_authentication_but_accept_it(service, site):
    anonymous = await packages(service)
    authenticated = await site.get("/packages")
    assert anonymous.status_code == authenticated.status_code == 200
    assert anonymous.json() == authenticated.json()


async def test_a_deactivated_package_disappears(service):
    response = await service.http.delete(
        f"{service.url}/api/v1/admin/packages/article_pro", headers=service.admin_headers()
    )
    assert response.status_code == 200, response.text
    ids = {p["package_id"] for p in (await packages(service)).json()["packages"]["packages"]}
    assert "article_pro" not in ids and "article_starter" in ids


async def test_no_active_package_is_404_no_packages(service):
    everything = (await packages(service)).json()["packages"]["packages"]
    for package in everything:
        response = await service.http.delete(
            f"{service.url}/api/v1/admin/packages/{package['package_id']}",
            headers=service.admin_headers(),
        )
        assert response.status_code == 200, response.text
    response = await packages(service)
    assert response.status_code == 404
    assert response.json()["success"] is False
    assert response.json()["error"] == "no_packages"


async def test_the_seed_does_not_come_back_after_a_restart(make_service):
    first = await make_service()
    await first.http.delete(
        f"{first.url}/api/v1/admin/packages/image_pro", headers=first.admin_headers()
    )
    second = await make_service()  # same SQLite file
    ids = {p["package_id"] for p in (await packages(second)).json()["packages"]["packages"]}
    assert "image_pro" not in ids
