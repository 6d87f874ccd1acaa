"""rakubun-harness: run the whole stack offline, buy credits through it, trigger Stripe events.

`up` starts the fake Stripe and the plugin simulator in this process and the service as a
subprocess, wired together; `buy` and `trigger` drive a running `up` through harness.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

HOST = "127.0.0.1"
HARNESS_FILE = "harness.json"
SERVICE_LOG = "service.log"
READY_LINE = "rakubun-harness ready"
DEFAULT_DATA_DIR = Path(".harness")
STRIPE_WEBHOOK_PATH = "/api/v1/webhooks/stripe"
PLUGIN_WEBHOOK_RETRY_DELAYS = "1,2,4,8,16,32,64,128"
SECRET_KEYS = (
    "admin_token",
    "stripe_secret_key",
    "stripe_publishable_key",
    "stripe_webhook_secret",
)
PACKAGE_ROOT = Path(__file__).resolve().parent
WORDPRESS_README = PACKAGE_ROOT / "wordpress" / "README.md"


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived before the harness was ready."""


class HarnessError(Exception):
    """A step of a harness command failed; the message says which and why."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


def say(line: str = "") -> None:
    print(line, flush=True)


# -- harness.json ------------------------------------------------------------------------------


def read_harness_file(data_dir: Path) -> dict[str, Any]:
    """The saved harness.json of a data dir, or {} when there is none yet."""
    path = data_dir / HARNESS_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def write_harness_file(data_dir: Path, values: Mapping[str, Any]) -> Path:
    """Write harness.json atomically, readable only by its owner (it holds secrets)."""
    path = data_dir / HARNESS_FILE
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(dict(values), indent=2) + "\n")
    partial.chmod(0o600)
    os.replace(partial, path)
    return path


def harness_secrets(saved: Mapping[str, Any]) -> dict[str, str]:
    """The data dir's admin token and Stripe keys: the saved ones, new ones where missing."""
    fresh = {
        "admin_token": secrets.token_urlsafe(32),
        "stripe_secret_key": "sk_test_" + secrets.token_urlsafe(24),
        "stripe_publishable_key": "pk_test_" + secrets.token_urlsafe(24),
        "stripe_webhook_secret": "whsec_" + secrets.token_urlsafe(24),
    }
    return {key: str(saved.get(key) or fresh[key]) for key in SECRET_KEYS}


def load_running_harness(data_dir: Path) -> dict[str, Any]:
    """harness.json of a running `up`, or a HarnessError telling how to start one."""
    saved = read_harness_file(data_dir)
    if not saved.get("api_url"):
        raise HarnessError(
            "harness.json", f"no {data_dir / HARNESS_FILE}; start `rakubun-harness up` first"
        )
    return saved


# -- ports -------------------------------------------------------------------------------------


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def choose_port(requested: int | None, previous_url: str | None) -> int:
    """The requested port; by default the previous run's port when free, so URLs stay put.

    0 means any free port.
    """
    if requested is not None:
        return requested
    if previous_url:
        with contextlib.suppress(ValueError, IndexError):
            previous = int(previous_url.rsplit(":", 1)[1].split("/", 1)[0])
            if port_is_free(previous):
                return previous
    return 0


# -- the service subprocess --------------------------------------------------------------------


class ServiceProcess:
    """`rakubun-service` as a child process in its own process group, logging to a file."""

    def __init__(self, *, port: int, workers: int, env: Mapping[str, str], log_path: Path) -> None:
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.command = [
            sys.executable,
            "-c",
            "from service.cli import main; main()",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        self.env = dict(env)
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # our signal handler, not the terminal, stops it
            )

    @property
    def exited(self) -> bool:
        return self.process is None or self.process.returncode is not None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.is_file():
            return "(no output)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(no output)"

    async def wait_healthy(self, timeout: float, stopping: asyncio.Event) -> None:
        """Poll /api/v1/health until 200; fail with the log's tail if the service exits."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        health = f"{self.url}/api/v1/health"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while loop.time() < deadline:
                if stopping.is_set():
                    raise Interrupted()
                if self.exited:
                    raise HarnessError(
                        "service",
                        f"exited with status {self.process and self.process.returncode} "
                        f"before answering {health}; last lines of {self.log_path}:\n"
                        f"{self.log_tail()}",
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(health) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise HarnessError(
            "service",
            f"{health} did not answer 200 within {timeout:.0f}s; last lines of "
            f"{self.log_path}:\n{self.log_tail()}",
        )

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL for the whole group if it lingers."""
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        # Sanic's workers share the group; none may outlive their parent.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)


def service_environment(
    *,
    data_dir: Path,
    api_url: str,
    stripe_url: str,
    keys: Mapping[str, str],
    webhook_secret: str,
    rate_limit: int,
    mongodb_url: str | None,
) -> dict[str, str]:
    """The service's whole configuration: environment variables only."""
    env = dict(os.environ)
    env.pop("MONGODB_URL", None)  # the embedded store unless --mongodb-url says otherwise
    source_root = str(PACKAGE_ROOT.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "SQLITE_PATH": str((data_dir / "rakubun.sqlite3").resolve()),
            "STRIPE_API_BASE": stripe_url,
            "STRIPE_SECRET_KEY": keys["stripe_secret_key"],
            "STRIPE_PUBLIC_KEY": keys["stripe_publishable_key"],
            "STRIPE_WEBHOOK_SECRET": webhook_secret,
            "DASHBOARD_URL": api_url,
            "ADMIN_API_TOKEN": keys["admin_token"],
            "RATE_LIMIT_PER_MINUTE": str(rate_limit),
            "WEBHOOK_RETRY_DELAYS": PLUGIN_WEBHOOK_RETRY_DELAYS,
        }
    )
    if mongodb_url:
        env["MONGODB_URL"] = mongodb_url
    return env


# -- up ----------------------------------------------------------------------------------------


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
    plugin: PluginSimulator | None = None
    service: ServiceProcess | None = None
    try:
        stripe_url = await fake.start(
            host=HOST, port=choose_port(args.stripe_port, saved.get("stripe_url"))
        )
        api_port = choose_port(args.api_port, saved.get("api_url")) or free_port()
        api_url = f"http://{HOST}:{api_port}"
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
            host=HOST, port=choose_port(args.plugin_port, saved.get("plugin_url"))
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

        stop_requested = asyncio.create_task(stopping.wait())
        service_exited = asyncio.create_task(service.process.wait())  # type: ignore[union-attr]
        await asyncio.wait({stop_requested, service_exited}, return_when=asyncio.FIRST_COMPLETED)
        stop_requested.cancel()
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


# -- talking to a running harness ---------------------------------------------------------------


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
            raise HarnessError(step, f"simulator answered {status}: {_short(answer)}")
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
            raise HarnessError(step, f"fake Stripe answered {status}: {_short(answer)}")
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
            raise HarnessError(step, f"fake Stripe answered {status}: {_short(answer)}")
        return answer


def _short(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


def _succeeded(status: int, body: Any) -> bool:
    return status == 200 and isinstance(body, dict) and bool(body.get("success"))


def service_refused(step: str, status: int, body: Any) -> HarnessError:
    """The failure of a plugin call, with a hint when the service forgot the plugin."""
    hint = ""
    if status == 401:
        hint = (
            " (the service does not know this plugin's token; register anew with"
            ' POST /_sim/register {"force": true} on the plugin simulator)'
        )
    return HarnessError(step, f"service answered {status}: {_short(body)}{hint}")


def report(step: str, detail: str) -> None:
    say(f"  ok  {step:<22} {detail}")


# -- buy ---------------------------------------------------------------------------------------


def find_package(packages_body: Any, package_id: str) -> dict[str, Any]:
    """The package from GET /packages: the flat `packages.packages` list, else the groups."""
    groups = packages_body.get("packages") if isinstance(packages_body, dict) else None
    if not isinstance(groups, dict):
        raise HarnessError("packages", f"no `packages` object in {_short(packages_body)}")
    flat = groups.get("packages") or [
        package for key in ("articles", "images", "rewrites") for package in groups.get(key) or []
    ]
    for package in flat:
        if package_id in (package.get("package_id"), package.get("id")):
            return dict(package)
    known = sorted(str(p.get("package_id") or p.get("id")) for p in flat)
    raise HarnessError("packages", f"no package {package_id!r}; known: {', '.join(known)}")


def _balances(body: Any) -> dict[str, int]:
    credits = body.get("credits") if isinstance(body, dict) else None
    if not isinstance(credits, dict):
        raise HarnessError("credits", f"no `credits` object in {_short(body)}")
    return {
        key.removesuffix("_credits"): int(value)
        for key, value in credits.items()
        if key.endswith("_credits")
    }


async def _wait_for_enter(prompt: str) -> None:
    say(prompt)
    with contextlib.suppress(EOFError):
        await asyncio.to_thread(input)


async def run_buy(args: argparse.Namespace) -> int:
    """Buy one package like a WordPress user would; exit status 0 only if every step passed."""
    try:
        settings = load_running_harness(Path(args.data_dir))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
            await _buy(RunningHarness(settings, http), args)
    except HarnessError as error:
        say(f"FAILED at {error}")
        return 1
    say("purchase complete")
    return 0


async def _buy(harness: RunningHarness, args: argparse.Namespace) -> None:
    user = {"user_id": args.user_id, "user_email": args.email}

    registration = await harness.sim("register", "POST", "register", {})
    already = " (already registered)" if registration.get("already_registered") else ""
    report("register", f"instance {registration['instance_id']}{already}")

    status, body = await harness.plugin_call("packages", "packages")
    if not _succeeded(status, body):
        raise service_refused("packages", status, body)
    package = find_package(body, args.package)
    credit_type = str(package["credit_type"])
    report(
        "packages",
        f"{args.package}: {package['credits']} {credit_type} credits for "
        f"{package['price']} {package.get('currency', 'JPY')}",
    )

    status, body = await harness.plugin_call("credits before", "credits", user)
    if not _succeeded(status, body):
        raise service_refused("credits before", status, body)
    before = _balances(body)
    report("credits before", ", ".join(f"{k} {v}" for k, v in before.items()))

    seen = (await harness.sim("webhooks", "GET", "webhooks"))["last_seq"]
    deliveries_before = len(await harness.stripe_control("deliveries", "deliveries", method="GET"))
    order = {
        **user,
        "credit_type": credit_type,
        "package_id": args.package,
        "amount": package["price"],
        "currency": package.get("currency", "JPY"),
    }
    if args.flow == "checkout":
        await _pay_by_checkout(harness, order, manual=args.manual)
    else:
        await _pay_by_intent(harness, order, manual=args.manual)

    await _drain_stripe_webhooks(harness, deliveries_before)

    status, body = await harness.plugin_call("credits after", "credits", user)
    if not _succeeded(status, body):
        raise service_refused("credits after", status, body)
    after = _balances(body)
    report("credits after", ", ".join(f"{k} {before.get(k, 0)} -> {v}" for k, v in after.items()))
    grown = after.get(credit_type, 0) - before.get(credit_type, 0)
    if grown != int(package["credits"]):
        raise HarnessError(
            "credits after", f"{credit_type} grew by {grown}, expected {package['credits']}"
        )

    await _show_plugin_webhooks(harness, seen, args.webhook_timeout)


async def _drain_stripe_webhooks(harness: RunningHarness, deliveries_before: int) -> None:
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


async def _pay_by_checkout(harness: RunningHarness, order: dict[str, Any], *, manual: bool) -> None:
    status, body = await harness.plugin_call("checkout session", "checkout", order)
    if not _succeeded(status, body) or not body.get("session_id"):
        raise service_refused("checkout session", status, body)
    session_id = str(body["session_id"])
    page = body.get("url") or body.get("checkout_url")
    report("checkout session", f"{session_id}  {page}")

    if manual:
        await _wait_for_enter(f"Open {page} in a browser, pay or decline, then press Enter.")
    else:
        paid = await harness.stripe_control(
            "pay", f"checkout/sessions/{session_id}/complete", {"outcome": "paid"}
        )
        report("pay", f"paid; Stripe redirects to {paid.get('redirect_url')}")

    status, body = await harness.plugin_call("verify", "verify", {"session_id": session_id})
    if not _succeeded(status, body):
        raise service_refused("verify", status, body)
    detail = body.get("status") or f"+{body.get('credits_added')} {body.get('credit_type')}"
    report("verify", str(detail))


async def _pay_by_intent(harness: RunningHarness, order: dict[str, Any], *, manual: bool) -> None:
    status, body = await harness.plugin_call("payment intent", "create-intent", order)
    if not _succeeded(status, body) or not body.get("payment_intent_id"):
        raise service_refused("payment intent", status, body)
    intent_id = str(body["payment_intent_id"])
    report("payment intent", f"{intent_id}  {body.get('amount')} {body.get('currency')}")

    if manual:
        await _wait_for_enter(
            f"Complete {intent_id} (e.g. `rakubun-harness trigger payment_intent.succeeded "
            f"--intent {intent_id}`), then press Enter."
        )
    else:
        await harness.stripe_control("pay", f"payment_intents/{intent_id}/succeed", {})
        report("pay", "succeeded")

    confirm = {
        "payment_intent_id": intent_id,
        "user_id": order["user_id"],
        "credit_type": order["credit_type"],
    }
    status, body = await harness.plugin_call("confirm", "confirm", confirm)
    if not _succeeded(status, body):
        raise service_refused("confirm", status, body)
    report("confirm", f"+{body.get('credits_added')} (transaction {body.get('transaction_id')})")


async def _show_plugin_webhooks(harness: RunningHarness, after: int, timeout: float) -> None:
    step = "plugin webhooks"
    await harness.sim(
        step, "GET", f"webhooks?event=credits_updated&after={after}&wait={timeout}&count=1"
    )
    received = (await harness.sim(step, "GET", f"webhooks?after={after}"))["webhooks"]
    say("  plugin webhooks received:")
    for webhook in received:
        data = webhook.get("data") if isinstance(webhook.get("data"), dict) else {}
        say(
            f"    #{webhook['seq']} {webhook['event']}  "
            f"signature_valid={str(webhook['signature_valid']).lower()}  "
            f"answered {webhook['status']}  {_short(data, 160)}"
        )
    credits_updated = [w for w in received if w["event"] == "credits_updated"]
    if not credits_updated:
        raise HarnessError(step, f"no credits_updated reached the plugin within {timeout:g}s")
    if not any(w["signature_valid"] and w["status"] == 200 for w in credits_updated):
        raise HarnessError(step, "no credits_updated had a valid signature and a 200 answer")


# -- trigger -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """How the fake's control API produces one Stripe event, and which objects it applies to."""

    target: str  # "session" or "intent"
    action: str
    body: dict[str, Any]
    statuses: frozenset[str]  # the default target is the newest object in one of these


OPEN_SESSION = frozenset({"open"})
UNFINISHED_INTENT = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "processing"}
)
PAID_INTENT = frozenset({"succeeded"})

TRIGGERS: dict[str, Trigger] = {
    "checkout.session.completed": Trigger("session", "complete", {"outcome": "paid"}, OPEN_SESSION),
    "checkout.session.expired": Trigger(
        "session", "complete", {"outcome": "expired"}, OPEN_SESSION
    ),
    "payment_intent.succeeded": Trigger("intent", "succeed", {}, UNFINISHED_INTENT),
    "payment_intent.payment_failed": Trigger("intent", "fail", {}, UNFINISHED_INTENT),
    "charge.refunded": Trigger("intent", "refund", {}, PAID_INTENT),
    "charge.dispute.created": Trigger("intent", "dispute", {}, PAID_INTENT),
}


async def _newest_target(harness: RunningHarness, trigger: Trigger) -> str:
    """The newest session or intent the event applies to (e.g. an open session to expire)."""
    path = "checkout/sessions" if trigger.target == "session" else "payment_intents"
    listed = (await harness.stripe_api("find target", f"{path}?limit=100")).get("data") or []
    for item in listed:
        if item.get("status") in trigger.statuses:
            return str(item["id"])
    kind = "Checkout Session" if trigger.target == "session" else "PaymentIntent"
    wanted = " or ".join(sorted(trigger.statuses))
    raise HarnessError(
        "find target", f"no {kind} with status {wanted}; name one with --{trigger.target}"
    )


async def _trigger(harness: RunningHarness, args: argparse.Namespace) -> None:
    trigger = TRIGGERS[args.event]
    if trigger.target == "session":
        if args.intent:
            raise HarnessError("arguments", f"{args.event} needs --session, not --intent")
        target = args.session or await _newest_target(harness, trigger)
        path = f"checkout/sessions/{target}/{trigger.action}"
    else:
        target = args.intent
        if not target and args.session:
            session = await harness.stripe_api("find target", f"checkout/sessions/{args.session}")
            target = session.get("payment_intent")
            if not target:
                raise HarnessError("find target", f"{args.session} has no payment_intent yet")
        target = target or await _newest_target(harness, trigger)
        path = f"payment_intents/{target}/{trigger.action}"
    body = dict(trigger.body)
    if args.amount is not None:
        body["amount"] = args.amount
    deliveries_before = len(await harness.stripe_control("deliveries", "deliveries", method="GET"))
    answer = await harness.stripe_control(args.event, path, body)
    report(args.event, f"{target}: {_short(answer, 300)}")
    await _drain_stripe_webhooks(harness, deliveries_before)


async def run_trigger(args: argparse.Namespace) -> int:
    """Make the fake Stripe produce one event against a running `up`."""
    try:
        settings = load_running_harness(Path(args.data_dir))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            await _trigger(RunningHarness(settings, http), args)
    except HarnessError as error:
        say(f"FAILED at {error}")
        return 1
    return 0


# -- command line ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The `rakubun-harness` argument parser with its up, buy and trigger subcommands."""
    parser = argparse.ArgumentParser(
        prog="rakubun-harness",
        description="Run the Rakubun dashboard offline with a fake Stripe and a plugin simulator.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_dir_option(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--data-dir",
            default=str(DEFAULT_DATA_DIR),
            help="where harness.json, the database and the fakes' state live (default: ./.harness)",
        )

    up = commands.add_parser(
        "up", help="start service, fake Stripe and plugin simulator, wired together"
    )
    data_dir_option(up)
    port_help = "port on 127.0.0.1 (0: any free port; default: the previous run's if free)"
    up.add_argument("--api-port", type=int, help=f"service {port_help}")
    up.add_argument("--stripe-port", type=int, help=f"fake Stripe {port_help}")
    up.add_argument("--plugin-port", type=int, help=f"plugin simulator {port_help}")
    up.add_argument(
        "--rate-limit",
        type=int,
        default=100_000,
        help="service requests per minute per site (default: 100000, so load runs are not throttled)",
    )
    up.add_argument("--workers", type=int, default=1, help="service worker processes (default: 1)")
    up.add_argument("--mongodb-url", help="use this MongoDB instead of the embedded SQLite store")
    up.add_argument(
        "--startup-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the service's health check (default: 60)",
    )
    up.set_defaults(run=run_up)

    buy = commands.add_parser(
        "buy", help="buy a credit package through a running `up`, as a WordPress user would"
    )
    data_dir_option(buy)
    buy.add_argument(
        "--package", default="article_starter", help="package_id (default: article_starter)"
    )
    buy.add_argument("--user-id", type=int, default=1, help="WordPress user id (default: 1)")
    buy.add_argument("--email", default="editor@example.com", help="the user's email")
    buy.add_argument(
        "--flow",
        choices=("checkout", "intent"),
        default="checkout",
        help="hosted Checkout Session or PaymentIntent (default: checkout)",
    )
    buy.add_argument(
        "--manual",
        action="store_true",
        help="print the payment page and wait for Enter instead of paying automatically",
    )
    buy.add_argument(
        "--webhook-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the plugin's credits_updated webhook (default: 30)",
    )
    buy.set_defaults(run=run_buy)

    trigger = commands.add_parser(
        "trigger", help="make the fake Stripe send an event to a running `up`"
    )
    trigger.add_argument(
        "event", metavar="EVENT", choices=sorted(TRIGGERS), help=", ".join(TRIGGERS)
    )
    data_dir_option(trigger)
    target = trigger.add_mutually_exclusive_group()
    target.add_argument("--session", help="Checkout Session id (default: the newest)")
    target.add_argument("--intent", help="PaymentIntent id (default: the newest)")
    trigger.add_argument("--amount", type=int, help="refund amount (charge.refunded)")
    trigger.set_defaults(run=run_trigger)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the subcommand; returns the exit status."""
    args = build_parser().parse_args(argv)
    return asyncio.run(args.run(args))


def main() -> None:
    """Console entry point of `rakubun-harness`."""
    sys.exit(run())


if __name__ == "__main__":
    main()
