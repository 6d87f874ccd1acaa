"""Talking to a running `up`: the simulator's and the fake Stripe's control APIs over HTTP."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from harness.console import report, say, short
from harness.errors import HarnessError


@dataclass
class RunningHarness:
    """HTTP access to a running `up`: the simulator's and the fake Stripe's control APIs."""

    settings: dict[str, Any]
    http: aiohttp.ClientSession

    @property
    def plugin_url(self) -> str:
        return str(self.settings["plugin_url"])

    @property
    def stripe_url(self) -> str:
        return str(self.settings["stripe_url"])

    async def _request(
        self, step: str, method: str, url: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]:
        try:
            async with self.http.request(method, url, json=body) as response:
                text = await response.text()
                status = response.status
        except aiohttp.ClientError as error:
            raise HarnessError(step, f"{url} is unreachable ({error}); is `up` running?") from None
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    async def sim(
        self, step: str, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> Any:
        """Call the simulator's /_sim/ API; a non-2xx answer fails the step."""
        status, answer = await self._request(step, method, f"{self.plugin_url}/_sim/{path}", body)
        if not 200 <= status < 300:
            raise HarnessError(step, f"simulator answered {status}: {short(answer)}")
        return answer

    async def plugin_call(
        self, step: str, name: str, overrides: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]:
        """One plugin call through the simulator: the service's status and body."""
        outcome = await self.sim(step, "POST", f"call/{name}", overrides or {})
        return int(outcome["status"]), outcome["body"]

    async def stripe_control(
        self, step: str, path: str, body: Mapping[str, Any] | None = None, method: str = "POST"
    ) -> Any:
        """Call the fake Stripe's /_harness/ control API; a non-2xx answer fails the step."""
        url = f"{self.stripe_url}/_harness/{path}"
        status, answer = await self._request(step, method, url, body)
        if not 200 <= status < 300:
            raise HarnessError(step, f"fake Stripe answered {status}: {short(answer)}")
        return answer

    async def service_admin(self, step: str, path: str, **query: str) -> Any:
        """GET from the service's admin API (`/api/v1/admin/...`); a non-200 fails the step."""
        url = f"{self.settings['api_url']}/api/v1/admin/{path}"
        headers = {"Authorization": f"Bearer {self.settings.get('admin_token', '')}"}
        try:
            async with self.http.get(url, headers=headers, params=query) as response:
                answer = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, ValueError) as error:
            raise HarnessError(step, f"{url}: {error}") from None
        if status != 200:
            raise HarnessError(step, f"service answered {status}: {short(answer)}")
        return answer

    async def stripe_api(self, step: str, path: str) -> Any:
        """GET from the fake's Stripe API with the harness's secret key."""
        url = f"{self.stripe_url}/v1/{path}"
        headers = {"Authorization": f"Bearer {self.settings['stripe_secret_key']}"}
        try:
            async with self.http.get(url, headers=headers) as response:
                answer = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, ValueError) as error:
            raise HarnessError(step, f"{url}: {error}") from None
        if status != 200:
            raise HarnessError(step, f"fake Stripe answered {status}: {short(answer)}")
        return answer


async def drain_stripe_webhooks(harness: RunningHarness, deliveries_before: int) -> None:
    """Wait for the fake's webhooks to the service to settle and show what they got."""
    step = "stripe webhooks"
    await harness.stripe_control(step, "drain", {"timeout": 30})
    deliveries = await harness.stripe_control(step, "deliveries", method="GET")
    new = deliveries[deliveries_before:]
    report(step, f"{len(new)} deliveries to the service")
    for delivery in new:
        say(
            f"    {delivery.get('type')} {delivery.get('event_id')}  "
            f"attempt {delivery.get('attempt')}  answered {delivery.get('status_code')}"
        )
