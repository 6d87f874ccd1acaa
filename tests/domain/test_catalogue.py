"""The default catalogue and the grouped shape the plugin reads."""

from __future__ import annotations

from service.domain.catalogue import DEFAULT_PACKAGES, group_packages
from service.domain.models import Package

CONTRACT_CATALOGUE = {
    "article_starter": (10, 750),
    "article_pro": (50, 3000),
    "article_business": (100, 5500),
    "image_starter": (20, 300),
    "image_pro": (100, 1200),
    "rewrite_starter": (50, 3000),
    "rewrite_pro": (150, 8000),
}


def test_the_default_catalogue_is_the_old_dashboards_plus_rewrite_business():
    by_id = {p.package_id: p for p in DEFAULT_PACKAGES}
    for package_id, (credits, price) in CONTRACT_CATALOGUE.items():
        assert (by_id[package_id].credits, by_id[package_id].price) == (credits, price)
    assert set(by_id) == set(CONTRACT_CATALOGUE) | {"rewrite_business"}
    assert by_id["rewrite_business"].credit_type == "rewrite"
    assert all(p.currency == "JPY" and p.active for p in DEFAULT_PACKAGES)
    assert all(p.package_id.startswith(p.credit_type) for p in DEFAULT_PACKAGES)


def test_grouping_sorts_packages_into_the_plugins_keys_and_a_flat_list():
    grouped = group_packages(DEFAULT_PACKAGES)
    assert set(grouped) == {"articles", "images", "rewrites", "packages"}
    assert [p["package_id"] for p in grouped["images"]] == ["image_starter", "image_pro"]
    assert len(grouped["rewrites"]) == 3
    assert [p["package_id"] for p in grouped["packages"]] == [
        p.package_id for p in DEFAULT_PACKAGES
    ]


def test_every_grouped_package_carries_id_and_price():
    for package in group_packages(DEFAULT_PACKAGES)["packages"]:
        assert package["id"] == package["package_id"]
        assert isinstance(package["price"], int)
        assert set(package) >= {
            "name",
            "credit_type",
            "credits",
            "currency",
            "description",
            "is_popular",
        }


def test_an_empty_group_is_an_empty_list():
    only = Package("image_only", "Image Only", "image", 5, 100, "JPY")
    grouped = group_packages([only])
    assert grouped["articles"] == [] and grouped["rewrites"] == []
    assert [p["package_id"] for p in grouped["images"]] == ["image_only"]
    assert group_packages([]) == {"articles": [], "images": [], "rewrites": [], "packages": []}
