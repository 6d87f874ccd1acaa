"""Registering a WordPress site."""

from __future__ import annotations

from ...flows import sites
from .registry import Call, Operations, Reply

ops = Operations()


@ops("registerPlugin")
async def register_plugin(call: Call) -> Reply:
    """Create the site; its token and secret are answered here once and never again."""
    return await sites.register(call.services, call.body)
