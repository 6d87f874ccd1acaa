"""The public package catalogue."""

from __future__ import annotations

from typing import Any

from ..domain.catalogue import group_packages
from ..domain.models import Package
from ..errors import NoPackages
from .registry import Call, Operations, Reply

ops = Operations()


@ops("listPackages")
async def list_packages(call: Call) -> Reply:
    packages = await call.services.store.cached_packages()
    if not packages:
        raise NoPackages()
    return {"success": True, "packages": _grouped(packages)}


_last: tuple[list[Package], dict[str, Any]] | None = None


def _grouped(packages: list[Package]) -> dict[str, Any]:
    """`group_packages`, done once per cached list (the cache answers the same list object
    until the catalogue changes). The answer is only encoded, never changed."""
    global _last
    if _last is None or _last[0] is not packages:
        _last = (packages, group_packages(packages))
    return _last[1]
