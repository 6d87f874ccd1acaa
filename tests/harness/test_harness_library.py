"""`harness.up.Harness`, the async context manager `rakubun-harness up` runs, used as a library."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from harness.up import Harness


async def test_the_block_serves_the_three_parts_wired_together_and_stops_them(tmp_path: Path):
    async with Harness(tmp_path / "harness", api_port=0, stripe_port=0, plugin_port=0) as harness:
        async with httpx.AsyncClient(timeout=30) as http:
            health = await http.get(f"{harness.api_url}/api/v1/health")
            endpoints = await http.get(
                f"{harness.stripe_url}/v1/webhook_endpoints",
                headers={"Authorization": f"Bearer {harness.settings['stripe_secret_key']}"},
            )
            received = await http.get(f"{harness.plugin_url}/_sim/webhooks")
        written = json.loads((tmp_path / "harness" / "harness.json").read_text())
        service = harness.service
        assert service is not None and service.process is not None

    assert health.status_code == 200, health.text
    assert [e["url"] for e in endpoints.json()["data"]] == [
        f"{harness.api_url}/api/v1/webhooks/stripe"
    ]
    assert received.status_code == 200
    assert {k: written[k] for k in ("api_url", "stripe_url", "plugin_url", "admin_token")} == {
        "api_url": harness.api_url,
        "stripe_url": harness.stripe_url,
        "plugin_url": harness.plugin_url,
        "admin_token": harness.admin_token,
    }
    assert service.process.returncode is not None
    async with httpx.AsyncClient(timeout=5) as http:
        for url in (harness.api_url, harness.stripe_url, harness.plugin_url):
            try:
                await http.get(url)
            except httpx.ConnectError:
                continue
            raise AssertionError(f"{url} still answers after the block")
