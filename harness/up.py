"""`rakubun-harness up`: fake Stripe, plugin simulator and service, wired together.

`Harness` (an async context manager) runs the fake Stripe and the simulator in this process
and the service as a subprocess; `run_up` is the command around it. harness.json tells
`buy`, `trigger` and other tools where they listen.

Invariant: a Harness touches its data dir only while it holds the data dir's lock
(`data_dir_lock`), so two of them never share one journal, database or harness.json.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from harness.cli_options import options_of
from harness.console import say, short
from harness.data_dir_lock import DataDirLock
from harness.errors import HarnessError, Interrupted
from harness.fake_stripe.collector import freeze_survivors_of_full_collections
from harness.harness_file import (
    DEFAULT_DATA_DIR,
    HarnessAddresses,
    Setting,
    harness_secrets,
    read_harness_file,
    write_harness_file,
)
from harness.live_deliveries import WordPressDeliveryWatcher, print_in_process_deliveries
from harness.ports import check_ports_free, choose_port, free_port, url_host
from harness.service_process import PACKAGE_ROOT, ServiceProcess, service_environment

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


def next_steps(data_dir: Path, api_url: str, stripe_url: str) -> list[str]:
    """What to try first, in another terminal: buy, trigger, the inspector, "Try it out"."""
    where = "" if data_dir == DEFAULT_DATA_DIR else f" --data-dir {shlex.quote(str(data_dir))}"
    return [
        "Next steps, in another terminal:",
        f"  rakubun-harness buy{where}                      buy article_starter as WordPress user 1",
        f"  rakubun-harness trigger charge.refunded --purchase{where}"
        "  buy once more and refund that (the events: trigger --help)",
        f"  open {stripe_url}/_harness/   the inspector: sessions, refunds, disputes, webhooks",
        f'  "Try it out" at {api_url}/api/v1/docs: Authorize with the plugin token',
        "    (pluginBearer) and the instance id (instanceId) above",
    ]


def wordpress_hint(api_url: str) -> list[str]:
    """The steps that point a real WordPress at this harness's service."""
    return [
        f"Point a local WordPress at it ({WORDPRESS_README}):",
        "  1. copy rakubun-harness-redirect.php into wp-content/mu-plugins/",
        f"  2. in wp-config.php: define('RAKUBUN_HARNESS_API_URL', '{api_url}');",
        "  3. webhooks reach WordPress only if its site URL is reachable from this machine",
    ]


class Harness(HarnessAddresses):
    """The fake Stripe and the plugin simulator in this process, the service as a subprocess,
    wired together and described in `<data_dir>/harness.json`; an async context manager.

        async with Harness(tmp_path / "harness") as harness:
            ...  # harness.api_url, harness.stripe_url, harness.plugin_url, harness.admin_token

    Leaving the block (or a failed start) stops whatever had started. Port arguments: None
    reuses the previous run's port when free, 0 picks any free port. `stopping`, when set
    during start-up, abandons it with `Interrupted`.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        api_port: int | None = None,
        stripe_port: int | None = None,
        plugin_port: int | None = None,
        rate_limit: int = 100_000,
        workers: int = 1,
        mongodb_url: str | None = None,
        startup_timeout: float = 60.0,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.ports = {"api": api_port, "stripe": stripe_port, "plugin": plugin_port}
        self.rate_limit = rate_limit
        self.workers = workers
        self.mongodb_url = mongodb_url
        self.startup_timeout = startup_timeout
        self.stopping = stopping or asyncio.Event()
        self.fake: Any = None
        self.plugin: Any = None
        self.service: ServiceProcess | None = None
        #: harness.json as written for this run (empty until started).
        self.settings: dict[str, Any] = {}
        self.harness_file: Path | None = None
        self.lock = DataDirLock(self.data_dir)

    # -- where things are (the URLs: HarnessAddresses) -----------------------------------------

    admin_token = Setting()

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Harness:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _start(self) -> None:
        from harness.fake_stripe import FakeStripe
        from harness.plugin_sim import PluginSimulator

        self.lock.acquire()  # before anything in the data dir is opened, the journal above all
        check_ports_free(self.ports, self.host)
        saved = read_harness_file(self.data_dir)
        keys = harness_secrets(saved)
        self.fake = FakeStripe(
            secret_key=keys["stripe_secret_key"],
            publishable_key=keys["stripe_publishable_key"],
            data_dir=self.data_dir,
        )
        stripe_url = await self.fake.start(
            host=self.host, port=choose_port(self.ports["stripe"], saved.get("stripe_url"))
        )
        api_port = choose_port(self.ports["api"], saved.get("api_url")) or free_port()
        api_url = f"http://{url_host(self.host)}:{api_port}"
        endpoint = await replace_stripe_webhook_endpoint(
            self.fake,
            stripe_url,
            keys["stripe_secret_key"],
            api_url + STRIPE_WEBHOOK_PATH,
            keys["stripe_webhook_secret"],
        )
        webhook_secret = str(endpoint.get("secret") or keys["stripe_webhook_secret"])

        self.plugin = PluginSimulator(api_url, data_dir=self.data_dir)
        plugin_url = await self.plugin.start(
            host=self.host, port=choose_port(self.ports["plugin"], saved.get("plugin_url"))
        )

        self.service = ServiceProcess(
            port=api_port,
            workers=self.workers,
            env=service_environment(
                data_dir=self.data_dir,
                stripe_url=stripe_url,
                keys=keys,
                webhook_secret=webhook_secret,
                rate_limit=self.rate_limit,
                mongodb_url=self.mongodb_url,
            ),
            log_path=self.data_dir / SERVICE_LOG,
            host=self.host,
            url_host=url_host(self.host),
        )
        await self.service.start(keep_fds=(self.lock.fileno,))
        await self.service.wait_healthy(self.startup_timeout, self.stopping)
        await self._follow_simulator_url()

        self.settings = {
            "api_url": api_url,
            "stripe_url": stripe_url,
            "plugin_url": plugin_url,
            **keys,
            "stripe_webhook_secret": webhook_secret,
            "stripe_webhook_endpoint_id": endpoint.get("id"),
            "service_log": str(self.service.log_path),
            "service_pid": self.service.process.pid if self.service.process else None,
            "started_at": datetime.now(UTC).isoformat(),
        }
        self.harness_file = write_harness_file(self.data_dir, self.settings)
        self.lock.describe(
            {"api": api_url, "stripe": stripe_url, "plugin": plugin_url},
            service_pid=self.settings["service_pid"],
        )

    async def _follow_simulator_url(self) -> None:
        """A simulator on a new port updates its site's URL, or webhooks go to the old one."""
        previous = self.plugin.options.registered_site_url
        try:
            answer = await self.plugin.follow_site_url()
        except (aiohttp.ClientError, TimeoutError) as error:
            failure = f"the service is unreachable ({error!r})"
        else:
            if answer is None:
                return
            if answer.status == 200:
                say(f"plugin site moved: {previous} -> {self.plugin.site_url} (updated)")
                return
            failure = f"service answered {answer.status}: {short(answer.body)}"
        say(
            f"warning: the plugin site is registered as {previous}; moving it to "
            f"{self.plugin.site_url} failed: {failure}; its webhooks will not arrive here"
            ' (POST /_sim/register {"force": true} registers anew)'
        )

    async def register_plugin(self) -> str | None:
        """Register the simulator's site (or keep its registration), so its token is at hand
        for the API reference's "Try it out"; None, or why it failed (not fatal)."""
        try:
            outcome = await self.plugin.register()
        except (aiohttp.ClientError, TimeoutError) as error:
            return f"the service is unreachable ({error!r})"
        if outcome["success"]:
            return None
        return f"service answered {outcome.get('status')}: {short(outcome.get('answer'))}"

    async def serve(self) -> bool:
        """Wait until `stopping` is set (True) or the service exits on its own (False)."""
        assert self.service is not None and self.service.process is not None, "not started"
        stop_requested = asyncio.create_task(self.stopping.wait())
        service_exited = asyncio.create_task(self.service.process.wait())
        await asyncio.wait({stop_requested, service_exited}, return_when=asyncio.FIRST_COMPLETED)
        stop_requested.cancel()
        service_exited.cancel()
        return self.stopping.is_set()

    async def stop(self) -> None:
        """Stop the service, the simulator and the fake Stripe; each gets its chance."""
        if self.service is not None:
            await _quietly("service", self.service.stop())
        if self.plugin is not None:
            await _quietly("plugin simulator", self.plugin.stop())
        if self.fake is not None:
            await _quietly("fake Stripe", self.fake.stop())
        self.service = self.plugin = self.fake = None
        self.lock.release()  # last: the fake's journal is closed by now

    def banner(self) -> list[str]:
        """What `up` prints once ready: the URLs, the admin and plugin tokens, where things
        are, the next steps."""
        api_url, stripe_url, plugin_url = self.api_url, self.stripe_url, self.plugin_url
        options = self.plugin.options
        return [
            f"service (API)   {api_url}/api/v1",
            f"API reference   {api_url}/api/v1/docs   (the contract: {api_url}/api/v1/openapi.json)",
            f"fake Stripe     {stripe_url}   (inspector: {stripe_url}/_harness/)",
            f"plugin (WP)     {plugin_url}   (received webhooks: {plugin_url}/_sim/webhooks)",
            f"admin token     {self.admin_token}",
            f"plugin token    {options.api_token or f'(none: POST {plugin_url}/_sim/register)'}",
            f"instance id     {options.instance_id}",
            f"settings        {self.harness_file}",
            f"service log     {self.settings['service_log']}",
            "",
            *next_steps(self.data_dir, api_url, stripe_url),
            "",
            *wordpress_hint(api_url),
            "",
            READY_LINE,
        ]


async def run_up(args: argparse.Namespace) -> int:
    """`rakubun-harness up`: start a `Harness`, print its URLs, serve until SIGINT/SIGTERM."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    options = options_of(args, "host", "rate_limit", "workers", "mongodb_url", "startup_timeout")
    ports = options_of(args, "api_port", "stripe_port", "plugin_port")
    harness = Harness(args.data_dir, **options, **ports, stopping=stopping)
    try:
        async with harness:
            freeze_survivors_of_full_collections()  # the fake's state lives as long as we do
            failure = await harness.register_plugin()
            if failure is not None:
                say(f"warning: registering the plugin simulator failed: {failure}")
            for line in harness.banner():
                say(line)
            print_in_process_deliveries(harness.fake, harness.plugin)
            watcher = WordPressDeliveryWatcher(
                harness.api_url, harness.admin_token, harness.plugin.site_url
            )
            watching = asyncio.create_task(watcher.watch(stopping))
            stopped_on_request = await harness.serve()
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
            if not stopped_on_request:
                assert harness.service is not None
                say(f"the service exited unexpectedly; last lines of {harness.service.log_path}:")
                say(harness.service.log_tail())
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
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _quietly(what: str, stopping: Any) -> None:
    """Await one shutdown step; report its failure without skipping the others."""
    try:
        await stopping
    except Exception as error:  # every component must get its chance to stop
        say(f"warning: stopping the {what} failed: {error!r}")
