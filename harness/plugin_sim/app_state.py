"""What the stand-in's aiohttp handlers may ask of the simulator that serves them.

`wordpress.py` and `control.py` depend on this Protocol, never on `simulator.py`, which
imports them to build its app: so the package has no import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

from harness.plugin_sim.client import ApiAnswer
from harness.plugin_sim.inbox import WebhookInbox
from harness.plugin_sim.options import PluginOptions


class SimulatedSite(Protocol):
    """The WordPress site with the plugin, as its HTTP handlers see it (a PluginSimulator)."""

    api_url: str
    options: PluginOptions
    inbox: WebhookInbox
    landings: list[dict[str, Any]]
    webhooks_down: bool

    def public_state(self) -> dict[str, Any]: ...

    async def register(self, *, force: bool = False) -> dict[str, Any]: ...

    async def call(self, name: str, overrides: Mapping[str, Any] | None = None) -> ApiAnswer: ...

    def receive_webhook(
        self, raw_body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, Any] | str]: ...

    async def land_on_purchase_page(self, *, status: str, session_id: str) -> Any: ...


SIMULATOR: web.AppKey[SimulatedSite] = web.AppKey("plugin_simulator")


def simulator_of(request: web.Request) -> SimulatedSite:
    """The simulator serving this request."""
    return request.app[SIMULATOR]
