"""`rakubun-harness up`: fake Stripe, plugin simulator and service, wired together.

The fake Stripe and the simulator run in this process, the service as a subprocess;
harness.json tells `buy`, `trigger` and other tools where they listen.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from harness.console import say
from harness.errors import HarnessError, Interrupted
from harness.live_deliveries import WordPressDeliveryWatcher, print_in_process_deliveries
from harness.ports import choose_port, free_port, url_host
from harness.service_process import PACKAGE_ROOT, ServiceProcess, service_environment
from harness.state import harness_secrets, read_harness_file, write_harness_file

SERVICE_LOG = "service.log"
READY_LINE = "rakubun-harness ready"
STRIPE_WEBHOOK_PATH = "/api/v1/webhooks/stripe"
WORDPRESS_README = PACKAGE_ROOT / "wordpress" / "README.md"


async def replace_stripe_webhook_endpoint(
    fake: Any, stripe_url: str, secret_key: str, url: str, secret: str
) -> dict[str, Any]:
    """Point the fake's webhooks at the service, dropping the endpoints of previous runs.

    A previous run's endpoint (another service port) would collect failing retries forever.
    """
    headers = {"Authorization": f"Bearer {secret_key}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{stripe_url}/v1/webhook_endpoints?limit=100") as response:
            listed = (await response.json()).get("data", []) if response.status == 200 else []
        for endpoint in listed:
            old_url = str(endpoint.get("url", ""))
            if old_url != url and old_url.endswith(STRIPE_WEBHOOK_PATH):
                async with http.delete(f"{stripe_url}/v1/webhook_endpoints/{endpoint['id']}"):
                    pass
    return dict(fake.add_webhook_endpoint(url, secret=secret))


def wordpress_hint(api_url: str) -> list[str]:
    """The steps that point a real WordPress at this harness's service."""
    return [
        f"Point a local WordPress at it ({WORDPRESS_README}):",
        "  1. copy rakubun-harness-redirect.php into wp-content/mu-plugins/",
        f"  2. in wp-config.php: define('RAKUBUN_HARNESS_API_URL', '{api_url}');",
        "  3. webhooks reach WordPress only if its site URL is reachable from this machine",
    ]


async def run_up(args: argparse.Namespace) -> int:
    """Start fake Stripe, plugin simulator and service; serve until SIGINT/SIGTERM."""
    from harness.fake_stripe import FakeStripe
    from harness.plugin_sim import PluginSimulator

    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    saved = read_harness_file(data_dir)
    keys = harness_secrets(saved)

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)

    fake = FakeStripe(
        secret_key=keys["stripe_secret_key"],
        publishable_key=keys["stripe_publishable_key"],
        data_dir=data_dir,
    )
    gc.freeze()  # the fake's loaded state lives as long as we do: keep full GC passes off it
    plugin: PluginSimulator | None = None
    service: ServiceProcess | None = None
    try:
        bind_host = args.host
        stripe_url = await fake.start(
            host=bind_host, port=choose_port(args.stripe_port, saved.get("stripe_url"))
        )
        api_port = choose_port(args.api_port, saved.get("api_url")) or free_port()
        api_url = f"http://{url_host(bind_host)}:{api_port}"
        endpoint = await replace_stripe_webhook_endpoint(
            fake,
            stripe_url,
            keys["stripe_secret_key"],
            api_url + STRIPE_WEBHOOK_PATH,
            keys["stripe_webhook_secret"],
        )
        webhook_secret = str(endpoint.get("secret") or keys["stripe_webhook_secret"])

        plugin = PluginSimulator(api_url, data_dir=data_dir)
        plugin_url = await plugin.start(
            host=bind_host, port=choose_port(args.plugin_port, saved.get("plugin_url"))
        )

        service = ServiceProcess(
            port=api_port,
            workers=args.workers,
            env=service_environment(
                data_dir=data_dir,
                api_url=api_url,
                stripe_url=stripe_url,
                keys=keys,
                webhook_secret=webhook_secret,
                rate_limit=args.rate_limit,
                mongodb_url=args.mongodb_url,
            ),
            log_path=data_dir / SERVICE_LOG,
            host=bind_host,
            url_host=url_host(bind_host),
        )
        await service.start()
        await service.wait_healthy(args.startup_timeout, stopping)

        harness_file = write_harness_file(
            data_dir,
            {
                "api_url": api_url,
                "stripe_url": stripe_url,
                "plugin_url": plugin_url,
                **keys,
                "stripe_webhook_secret": webhook_secret,
                "stripe_webhook_endpoint_id": endpoint.get("id"),
                "service_log": str(service.log_path),
                "service_pid": service.process.pid if service.process else None,
                "started_at": datetime.now(UTC).isoformat(),
            },
        )
        for line in [
            f"service (API)   {api_url}/api/v1",
            f"API reference   {api_url}/api/v1/docs   (the contract: {api_url}/api/v1/openapi.json)",
            f"fake Stripe     {stripe_url}   (inspector: {stripe_url}/_harness/)",
            f"plugin (WP)     {plugin_url}   (received webhooks: {plugin_url}/_sim/webhooks)",
            f"admin token     {keys['admin_token']}",
            f"settings        {harness_file}",
            f"service log     {service.log_path}",
            "",
            *wordpress_hint(api_url),
            "",
            READY_LINE,
        ]:
            say(line)
        print_in_process_deliveries(fake, plugin)
        watcher = WordPressDeliveryWatcher(api_url, keys["admin_token"], plugin.site_url)
        watching = asyncio.create_task(watcher.watch(stopping))

        stop_requested = asyncio.create_task(stopping.wait())
        service_exited = asyncio.create_task(service.process.wait())  # type: ignore[union-attr]
        await asyncio.wait({stop_requested, service_exited}, return_when=asyncio.FIRST_COMPLETED)
        stop_requested.cancel()
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        if not stopping.is_set():
            say(f"the service exited unexpectedly; last lines of {service.log_path}:")
            say(service.log_tail())
            return 1
        say("stopping")
        return 0
    except Interrupted:
        say("interrupted before ready; stopping")
        return 0
    except HarnessError as error:
        say(f"rakubun-harness up failed at {error}")
        return 1
    except OSError as error:
        say(f"rakubun-harness up failed: {error}")
        return 1
    finally:
        if service is not None:
            await _quietly("service", service.stop())
        if plugin is not None:
            await _quietly("plugin simulator", plugin.stop())
        await _quietly("fake Stripe", fake.stop())
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _quietly(what: str, stopping: Any) -> None:
    """Await one shutdown step; report its failure without skipping the others."""
    try:
        await stopping
    except Exception as error:  # every component must get its chance to stop
        say(f"warning: stopping the {what} failed: {error!r}")
