"""The package catalogue as admins change it: create, update, deactivate.

A package's id and credit type are fixed once created (purchases froze them); currencies are
stored upper-case; every change is told to every active site (`package_updated`).
"""

from __future__ import annotations

from typing import Any

from ..context import Services
from ..domain.models import Package
from ..domain.numbers import whole, whole_fields
from ..errors import DuplicatePackage, PackageNotFound
from ..store import DuplicateError
from .plugin_notices import notify_active_sites

#: What an update may change; a package's id and credit type are fixed.
UPDATABLE_PACKAGE_FIELDS = (
    "name",
    "credits",
    "price",
    "currency",
    "description",
    "is_popular",
    "active",
    "sort_order",
)


async def create_package(services: Services, body: dict[str, Any]) -> Package:
    package = Package(
        package_id=body["package_id"],
        name=body["name"],
        credit_type=body["credit_type"],
        credits=whole(body["credits"]),
        price=whole(body["price"]),
        currency=body["currency"].upper(),
        description=body.get("description", ""),
        is_popular=body.get("is_popular", False),
        active=body.get("active", True),
        sort_order=whole(body.get("sort_order", 100)),
    )
    try:
        await services.store.create_package(package)
    except DuplicateError as exc:
        raise DuplicatePackage() from exc
    await notify_active_sites(
        services, "package_updated", {"action": "created", "package": package.to_api()}
    )
    return package


async def update_package(
    services: Services, package_id: str, fields: dict[str, Any], action: str
) -> Package:
    """Change the updatable fields of a package (`action` names the change to the plugins)."""
    fields = whole_fields({k: v for k, v in fields.items() if k in UPDATABLE_PACKAGE_FIELDS})
    if "currency" in fields:
        fields = {**fields, "currency": fields["currency"].upper()}
    package = await services.store.update_package(package_id, fields)
    if package is None:
        raise PackageNotFound()
    await notify_active_sites(
        services, "package_updated", {"action": action, "package": package.to_api()}
    )
    return package
