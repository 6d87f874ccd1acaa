"""The public package catalogue."""

from __future__ import annotations

from ...errors import NoPackages
from .registry import Call, Operations, Reply

ops = Operations()


@ops("listPackages")
async def list_packages(call: Call) -> Reply:
    grouped = await call.services.catalogue.grouped()
    if grouped is None:
        raise NoPackages()
    return {"success": True, "packages": grouped}
