"""The default package catalogue and how the plugin reads packages."""

from __future__ import annotations

from typing import Any

from .models import Package

#: The old dashboard's catalogue (prices in JPY, which has no minor unit), plus
#: `rewrite_business`, which the plugin asks for.
DEFAULT_PACKAGES: list[Package] = [
    Package(
        "article_starter",
        "Article Starter",
        "article",
        10,
        750,
        "JPY",
        "10 article credits",
        False,
        True,
        10,
    ),
    Package(
        "article_pro",
        "Article Pro",
        "article",
        50,
        3000,
        "JPY",
        "50 article credits",
        True,
        True,
        20,
    ),
    Package(
        "article_business",
        "Article Business",
        "article",
        100,
        5500,
        "JPY",
        "100 article credits",
        False,
        True,
        30,
    ),
    Package(
        "image_starter",
        "Image Starter",
        "image",
        20,
        300,
        "JPY",
        "20 image credits",
        False,
        True,
        40,
    ),
    Package(
        "image_pro", "Image Pro", "image", 100, 1200, "JPY", "100 image credits", True, True, 50
    ),
    Package(
        "rewrite_starter",
        "Rewrite Starter",
        "rewrite",
        50,
        3000,
        "JPY",
        "50 rewrite credits",
        False,
        True,
        60,
    ),
    Package(
        "rewrite_pro",
        "Rewrite Pro",
        "rewrite",
        150,
        8000,
        "JPY",
        "150 rewrite credits",
        True,
        True,
        70,
    ),
    Package(
        "rewrite_business",
        "Rewrite Business",
        "rewrite",
        300,
        15000,
        "JPY",
        "300 rewrite credits",
        False,
        True,
        80,
    ),
]

GROUPS = {"article": "articles", "image": "images", "rewrite": "rewrites"}


def group_packages(packages: list[Package]) -> dict[str, list[dict[str, Any]]]:
    """`{"articles": [...], "images": [...], "rewrites": [...], "packages": [all]}`.

    The flat `packages` list is what the plugin's PaymentIntent handler reads.
    """
    grouped: dict[str, list[dict[str, Any]]] = {g: [] for g in GROUPS.values()}
    flat = []
    for package in packages:
        item = package.to_api()
        grouped[GROUPS[package.credit_type]].append(item)
        flat.append(item)
    grouped["packages"] = flat
    return grouped
