"""The public package catalogue."""

from __future__ import annotations

from ..domain.catalogue import group_packages
from ..errors import ApiError
from .registry import Call, Operations, Reply

ops = Operations()


@ops("listPackages")
async def list_packages(call: Call) -> Reply:
    packages = await call.services.store.list_packages(active_only=True)
    if not packages:
        raise ApiError(404, "no_packages", "No credit packages are available")
    return {"success": True, "packages": group_packages(packages)}
