"""A simulator on a new port tells the service its site's new URL when `up` starts.

Without it, the site stays registered at the old port: every webhook fails there and `buy`
waits for a credits_updated that never comes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from harness.ports import free_port
from harness.up import Harness


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def the_only_site(harness: Harness, http: httpx.AsyncClient) -> dict[str, Any]:
    answer = await http.get(
        f"{harness.api_url}/api/v1/admin/sites",
        headers={"Authorization": f"Bearer {harness.admin_token}"},
    )
    [site] = answer.json()["sites"]
    return dict(site)


async def test_a_new_simulator_port_updates_the_sites_url_and_webhooks_arrive(tmp_path: Path):
    data_dir = tmp_path / "harness"
    async with Harness(data_dir, api_port=0, stripe_port=0, plugin_port=0) as first:
        async with httpx.AsyncClient(timeout=30) as http:
            registered = await http.post(f"{first.plugin_url}/_sim/register", json={})
            assert registered.status_code == 200, registered.text
            assert (await the_only_site(first, http))["site_url"] == first.plugin_url
    other_port = next(p for p in iter(free_port, None) if p != port_of(first.plugin_url))

    async with Harness(data_dir, api_port=0, stripe_port=0, plugin_port=other_port) as second:
        async with httpx.AsyncClient(timeout=30) as http:
            site = await the_only_site(second, http)
            sent = await http.post(
                f"{second.api_url}/api/v1/admin/sites/{site['site_id']}/webhooks/test",
                headers={"Authorization": f"Bearer {second.admin_token}"},
            )
            assert sent.status_code == 200, sent.text
            received = await http.get(
                f"{second.plugin_url}/_sim/webhooks?event=test_webhook&wait=20&count=1"
            )
            state = (await http.get(f"{second.plugin_url}/_sim/state")).json()

    assert second.plugin_url != first.plugin_url
    assert site["site_url"] == second.plugin_url
    assert [w["status"] for w in received.json()["webhooks"]] == [200]
    assert state["registered_site_url"] == second.plugin_url


async def test_a_move_the_service_refuses_is_a_warning_not_a_failed_start(tmp_path: Path, capsys):
    data_dir = tmp_path / "harness"
    async with Harness(data_dir, api_port=0, stripe_port=0, plugin_port=0) as first:
        async with httpx.AsyncClient(timeout=30) as http:
            registered = await http.post(f"{first.plugin_url}/_sim/register", json={})
            assert registered.status_code == 200, registered.text
    for stored in data_dir.glob("rakubun.sqlite3*"):
        stored.unlink()  # the service forgets the site; the simulator still has its token
    other_port = next(p for p in iter(free_port, None) if p != port_of(first.plugin_url))

    async with Harness(data_dir, api_port=0, stripe_port=0, plugin_port=other_port) as second:
        async with httpx.AsyncClient(timeout=30) as http:
            state = (await http.get(f"{second.plugin_url}/_sim/state")).json()

    printed = capsys.readouterr().out
    assert (
        f"warning: the plugin site is registered as {first.plugin_url}; moving it to"
        f" {second.plugin_url} failed: service answered 401" in printed
    ), printed
    assert state["registered_site_url"] == first.plugin_url
