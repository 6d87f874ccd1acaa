"""What the plugin reports: single generations and hourly usage."""

from __future__ import annotations

from .registry import Call, Operations, Reply

ops = Operations()


@ops("recordGeneration")
async def record_generation(call: Call) -> Reply:
    await call.services.store.record_generation(call.own_site.site_id, call.body)
    return {"success": True}


@ops("recordUsage")
async def record_usage(call: Call) -> Reply:
    await call.services.store.record_usage(call.own_site.site_id, call.body)
    return {"success": True}
