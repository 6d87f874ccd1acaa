"""What `rakubun-harness up` prints while it serves: every webhook delivery, as `stripe listen` does.

Stripe → service attempts come from the fake Stripe's dispatcher and service → simulator
webhooks from the simulator's inbox (both in this process). Deliveries to any other site
(a real WordPress) are read from the service's admin API, polled once a second.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from harness.console import plugin_delivery_lines, say, stripe_delivery_lines

PLUGIN_WEBHOOK_PATH = "/wp-admin/admin-ajax.php?action=rakubun_webhook"
POLL_INTERVAL = 1.0
RECENT_DELIVERIES = 50


def print_in_process_deliveries(fake: Any, plugin: Any) -> None:
    """Print each Stripe → service attempt and each webhook the simulator receives."""
    webhook_url = f"{plugin.site_url}{PLUGIN_WEBHOOK_PATH}"

    def stripe_attempt(attempt: dict[str, Any]) -> None:
        for line in stripe_delivery_lines(attempt):
            say(line)

    def plugin_received(webhook: Any) -> None:
        for line in plugin_delivery_lines(
            webhook.event, webhook.status, webhook_url, webhook.signature_valid
        ):
            say(line)

    fake.webhooks.observers.append(stripe_attempt)
    plugin.inbox.observers.append(plugin_received)


class WordPressDeliveryWatcher:
    """Prints the service's webhook attempts to sites other than the simulator."""

    def __init__(self, api_url: str, admin_token: str, simulator_site_url: str) -> None:
        self.api_url = api_url
        self.headers = {"Authorization": f"Bearer {admin_token}"}
        self.simulator_site_url = simulator_site_url
        self.seen: set[tuple[str, int]] = set()

    async def watch(self, stopping: asyncio.Event) -> None:
        """Poll until `stopping` is set; attempts made before the first poll are not printed."""
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout, headers=self.headers) as http:
            await self.poll(http, announce=False)
            while not stopping.is_set():
                try:
                    await asyncio.wait_for(stopping.wait(), POLL_INTERVAL)
                except TimeoutError:
                    await self.poll(http, announce=True)

    async def poll(self, http: aiohttp.ClientSession, *, announce: bool) -> None:
        try:
            for site in await self._other_sites(http):
                for delivery in await self._deliveries(http, site["site_id"]):
                    self._note(delivery, announce)
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
            return  # the service is starting or stopping; the next poll tries again

    async def _other_sites(self, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
        async with http.get(f"{self.api_url}/api/v1/admin/sites", params={"limit": "200"}) as r:
            sites = (await r.json())["sites"] if r.status == 200 else []
        return [site for site in sites if site.get("site_url") != self.simulator_site_url]

    async def _deliveries(self, http: aiohttp.ClientSession, site_id: str) -> list[dict[str, Any]]:
        url = f"{self.api_url}/api/v1/admin/sites/{site_id}/webhooks"
        async with http.get(url, params={"limit": str(RECENT_DELIVERIES)}) as response:
            if response.status != 200:
                return []
            return list(reversed((await response.json())["deliveries"]))  # oldest first

    def _note(self, delivery: dict[str, Any], announce: bool) -> None:
        for attempt in delivery.get("attempt_log") or []:
            key = (str(delivery["delivery_id"]), int(attempt["attempt"]))
            if key in self.seen:
                continue
            self.seen.add(key)
            if announce:
                for line in service_attempt_lines(delivery, attempt):
                    say(line)


def service_attempt_lines(delivery: dict[str, Any], attempt: dict[str, Any]) -> list[str]:
    """One attempt of the service's webhook to a site; one without an answer says why."""
    when = str(attempt["at"])[:19].replace("T", " ")
    status = attempt.get("status_code")
    shown = status if status is not None else "ERR"
    reason = f" ({attempt['error']})" if status is None and attempt.get("error") else ""
    return [
        f"{when}   --> plugin {delivery['event']}",
        f"{when}  <--  [{shown}] POST {delivery['url']}{reason}",
    ]
