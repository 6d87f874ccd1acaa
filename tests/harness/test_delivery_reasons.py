"""`buy`'s account of a webhook that did not arrive, read from the real service's admin API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from harness.buy import last_delivery_of
from harness.client import HarnessClient
from harness.up import Harness


async def recorded_failure(harness: HarnessClient, instance_id: str) -> str:
    """last_delivery_of once the service recorded the attempt (just after the answer)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        why = await last_delivery_of(harness, instance_id, "test_webhook")
        if not why.endswith("none yet") or loop.time() > deadline:
            return why
        await asyncio.sleep(0.05)


async def test_the_last_error_of_a_failed_delivery_is_named(tmp_path: Path):
    async with Harness(tmp_path / "harness", api_port=0, stripe_port=0, plugin_port=0) as up:
        admin = {"Authorization": f"Bearer {up.admin_token}"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            async with http.post(f"{up.plugin_url}/_sim/register", json={}) as registered:
                instance_id = (await registered.json())["instance_id"]
            async with http.post(f"{up.plugin_url}/_sim/down"):
                pass
            async with http.get(f"{up.api_url}/api/v1/admin/sites", headers=admin) as listed:
                [site] = (await listed.json())["sites"]
            test = f"{up.api_url}/api/v1/admin/sites/{site['site_id']}/webhooks/test"
            async with http.post(test, headers=admin) as sent:
                assert sent.status == 200, await sent.text()
            answered = await up.plugin.inbox.wait_for(
                event="test_webhook", after=0, count=1, timeout=30
            )
            assert [w.status for w in answered] == [503]
            async with HarnessClient(up.settings) as harness:
                why = await recorded_failure(harness, instance_id)

    assert f"to {up.plugin_url}/wp-admin/admin-ajax.php?action=rakubun_webhook is pending" in why
    assert why.endswith("last error: HTTP 503"), why
