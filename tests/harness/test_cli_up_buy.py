"""End to end: `rakubun-harness up` runs the real service, `buy` completes a purchase through it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.up import READY_LINE
from tests.support.capture import CaptureServer

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from harness.cli import main; main()"]
STARTUP_TIMEOUT = 120


@dataclass
class RunningUp:
    """A `rakubun-harness up` subprocess and what it printed until ready."""

    process: asyncio.subprocess.Process
    data_dir: Path
    output: list[str]

    @property
    def settings(self) -> dict[str, Any]:
        return json.loads((self.data_dir / "harness.json").read_text())

    async def stop(self) -> tuple[int, str]:
        """SIGTERM and wait; answers the exit status and the rest of the output."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(self.process.communicate(), 60)
        return self.process.returncode, rest.decode(errors="replace")


def store_options() -> list[str]:
    """The embedded store, or MongoDB when the run provides one (tox -e e2e-mongo)."""
    mongodb_url = os.environ.get("MONGODB_URL")
    return ["--mongodb-url", mongodb_url] if mongodb_url else []


async def spawn_up(*argv: str) -> asyncio.subprocess.Process:
    """`rakubun-harness up` with `argv`, everything it prints on one pipe."""
    return await asyncio.create_subprocess_exec(
        *CLI,
        "up",
        *argv,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def read_until_ready(process: asyncio.subprocess.Process, output: list[str]) -> bool:
    """Add `up`'s lines to `output` until it prints READY_LINE (True) or exits (False)."""
    assert process.stdout is not None
    while line := await process.stdout.readline():
        output.append(line.decode(errors="replace").rstrip("\n"))
        if output[-1] == READY_LINE:
            return True
    return False


async def start_up(data_dir: Path, *options: str) -> RunningUp:
    process = await spawn_up("--data-dir", str(data_dir), *store_options(), *options)
    output: list[str] = []
    try:
        if not await asyncio.wait_for(read_until_ready(process, output), STARTUP_TIMEOUT):
            raise AssertionError("up exited before ready:\n" + "\n".join(output))
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(process.communicate(), 60)
        print("\n".join(output) + rest.decode(errors="replace"))
        raise
    return RunningUp(process, data_dir, output)


async def run_cli(*argv: str, timeout: float = 180) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *CLI,
        *argv,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(errors="replace")


def process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_up_then_buy_delivers_a_signed_credits_updated(running_up):
    settings = running_up.settings
    for key in (
        "api_url",
        "stripe_url",
        "plugin_url",
        "admin_token",
        "stripe_secret_key",
        "stripe_publishable_key",
        "stripe_webhook_secret",
    ):
        assert settings.get(key), key
    assert settings["admin_token"] in "\n".join(running_up.output)

    status, out = await run_cli("buy", "--data-dir", str(running_up.data_dir))

    assert status == 0, out
    async with aiohttp.ClientSession() as http:
        url = f"{settings['plugin_url']}/_sim/webhooks?event=credits_updated"
        async with http.get(url) as response:
            webhooks = (await response.json())["webhooks"]
    assert any(w["signature_valid"] and w["status"] == 200 for w in webhooks), webhooks

    exit_status, rest = await running_up.stop()

    assert exit_status == 0, rest
    assert not process_is_alive(settings["service_pid"])


async def test_up_prints_each_delivery_live_like_stripe_listen(running_up):
    settings = running_up.settings

    status, out = await run_cli("buy", "--data-dir", str(running_up.data_dir))
    assert status == 0, out
    exit_status, rest = await running_up.stop()

    assert exit_status == 0, rest
    stripe_url = f"{settings['api_url']}/api/v1/webhooks/stripe"
    plugin_url = f"{settings['plugin_url']}/wp-admin/admin-ajax.php?action=rakubun_webhook"
    [event_id] = re.findall(r"  --> checkout\.session\.completed \[(evt_\w+)\]$", rest, re.M)
    assert re.search(rf"  <--  \[200\] POST {re.escape(stripe_url)} \[{event_id}\]$", rest, re.M), (
        rest
    )
    assert re.search(r"  --> plugin credits_updated$", rest, re.M), rest
    assert re.search(rf"  <--  \[200\] POST {re.escape(plugin_url)}$", rest, re.M), rest


async def test_trigger_on_a_fresh_up_creates_the_session_and_grants(running_up):
    settings = running_up.settings

    status, out = await run_cli(
        "trigger",
        "checkout.session.completed",
        "--purchase",
        "--json",
        "--data-dir",
        str(running_up.data_dir),
    )

    assert status == 0, out
    document = json.loads(out.splitlines()[-1])
    assert document["ok"] is True and document["created"].startswith("cs_"), document
    assert document["target"] == document["created"]
    async with aiohttp.ClientSession() as http:
        url = f"{settings['plugin_url']}/_sim/webhooks?event=credits_updated&wait=30&count=1"
        async with http.get(url) as response:
            webhooks = (await response.json())["webhooks"]
    assert [w["data"].get("session_id") for w in webhooks] == [document["created"]]


async def stripe_get(settings: dict[str, Any], path: str) -> Any:
    headers = {"Authorization": f"Bearer {settings['stripe_secret_key']}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{settings['stripe_url']}/v1/{path}") as response:
            assert response.status == 200, await response.text()
            return await response.json()


async def test_each_trigger_runs_its_stripe_fixture_on_fresh_objects(running_up):
    """A dispute after a refund is a new payment's (the issue: the refunded intent was reused)."""
    data_dir = str(running_up.data_dir)
    outcomes = []
    for event in ("charge.refunded", "charge.dispute.created"):
        status, out = await run_cli("trigger", event, "--json", "--data-dir", data_dir)
        assert status == 0, out
        outcomes.append(json.loads(out.splitlines()[-1]))

    refunded, disputed = (o["created"]["payment_intent"] for o in outcomes)
    assert refunded != disputed
    [dispute] = (await stripe_get(running_up.settings, f"disputes?payment_intent={disputed}"))[
        "data"
    ]
    assert dispute["status"] == "warning_needs_response"  # the CLI fixture's inquiry card
    deliveries = [d for o in outcomes for d in o["steps"] if d["step"] == "stripe webhooks"]
    assert len(deliveries) == 2


async def test_trigger_changes_fixture_params_like_the_stripe_cli(running_up):
    status, out = await run_cli(
        "trigger",
        "payment_intent.succeeded",
        "--override",
        "payment_intent:amount=4321",
        "--add",
        "payment_intent:metadata.order_id=6735",
        "--remove",
        "payment_intent:shipping",
        "--json",
        "--data-dir",
        str(running_up.data_dir),
    )

    assert status == 0, out
    intent_id = json.loads(out.splitlines()[-1])["created"]["payment_intent"]
    intent = await stripe_get(running_up.settings, f"payment_intents/{intent_id}")
    assert (intent["amount"], intent["metadata"], intent["shipping"]) == (
        4321,
        {"order_id": "6735"},
        None,
    )


async def test_events_resend_delivers_a_stored_event_again(running_up):
    data_dir = str(running_up.data_dir)
    status, out = await run_cli("trigger", "payment_intent.created", "--data-dir", data_dir)
    assert status == 0, out
    [event] = (await stripe_get(running_up.settings, "events?type=payment_intent.created"))["data"]

    status, out = await run_cli("events", "resend", event["id"], "--json", "--data-dir", data_dir)

    assert status == 0, out
    assert json.loads(out.splitlines()[-1])["event_id"] == event["id"]
    assert re.search(rf"payment_intent\.created {event['id']}  attempt 1  answered 200", out), out


def listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses with a socket listening on `port` (from /proc, nothing is sent)."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            addresses.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return addresses


async def test_up_host_binds_every_interface_and_keeps_loopback_urls(tmp_path):
    up = await start_up(tmp_path / "harness", "--host", "0.0.0.0")
    try:
        settings = up.settings
        ports = {
            key: int(settings[key].rsplit(":", 1)[1])
            for key in ("api_url", "stripe_url", "plugin_url")
        }
        bound = {key: listening_addresses(port) for key, port in ports.items()}
    finally:
        exit_status, rest = await up.stop()

    assert exit_status == 0, rest
    assert all(settings[key].startswith("http://127.0.0.1:") for key in ports), settings
    assert bound == {key: {"0.0.0.0"} for key in ports}


async def test_restart_keeps_secrets_and_urls(tmp_path):
    data_dir = tmp_path / "harness"
    first = await start_up(data_dir)
    before = first.settings
    assert (await first.stop())[0] == 0

    second = await start_up(data_dir)
    try:
        after = second.settings
    finally:
        exit_status, rest = await second.stop()

    assert exit_status == 0, rest
    for key in ("admin_token", "stripe_secret_key", "stripe_webhook_secret", "api_url"):
        assert after[key] == before[key], key


async def test_up_prints_the_api_reference_and_the_inspector_links_to_it(running_up):
    settings = running_up.settings
    docs_url = f"{settings['api_url']}/api/v1/docs"
    assert any(line.split()[:3] == ["API", "reference", docs_url] for line in running_up.output), (
        running_up.output
    )

    async with aiohttp.ClientSession() as http:
        async with http.get(docs_url) as response:
            assert response.status == 200
            assert response.content_type == "text/html"
        async with http.get(f"{settings['stripe_url']}/_harness/") as response:
            inspector = await response.text()
    assert f'<a href="{docs_url}">' in inspector


async def run_up_until_exit(*argv: str) -> tuple[int | None, str]:
    """`up` with `argv`; its status and output once it exits, or (None, output) once ready."""
    process = await spawn_up(*argv)
    output: list[str] = []
    if await asyncio.wait_for(read_until_ready(process, output), STARTUP_TIMEOUT):
        # it should have refused: stop it
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 60)
        return None, "\n".join(output)
    return await asyncio.wait_for(process.wait(), 60), "\n".join(output)


async def test_a_second_up_on_the_data_dir_names_the_running_one_and_exits(running_up):
    settings = running_up.settings
    written = (running_up.data_dir / "harness.json").read_text()

    status, output = await run_up_until_exit("--data-dir", str(running_up.data_dir))

    assert status == 1, output
    [line] = output.splitlines()
    assert f"pid {running_up.process.pid}" in line, line
    for key in ("api_url", "stripe_url", "plugin_url"):
        assert settings[key] in line, line
    assert (running_up.data_dir / "harness.json").read_text() == written


async def test_up_on_a_busy_api_port_says_so_and_never_says_ready(tmp_path):
    async with CaptureServer() as stranger:
        stranger.answer("/api/v1/health", json={"success": True, "status": "ok"})
        port = stranger.port

        status, output = await run_up_until_exit(
            "--data-dir", str(tmp_path / "harness"), "--api-port", str(port)
        )

    assert status == 1, output
    assert READY_LINE not in output
    assert f"--api-port: port {port} on 127.0.0.1 is in use" in output, output


async def test_the_service_of_a_killed_up_still_keeps_the_data_dir(tmp_path):
    first = await start_up(tmp_path / "harness")
    service_pid = first.settings["service_pid"]
    first.process.kill()  # no cleanup: the service, in its own session, lives on
    await first.process.wait()
    try:
        assert process_is_alive(service_pid)

        status, output = await run_up_until_exit("--data-dir", str(first.data_dir))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service_pid, signal.SIGKILL)

    assert status == 1, output
    assert f"the service (pid {service_pid}) of a killed rakubun-harness up" in output, output
    assert first.settings["api_url"] in output
