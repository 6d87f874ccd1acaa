"""One `up` per data dir, and readiness proven by this run's own service.

A second Harness on a data dir is refused before it opens anything there (the fake Stripe's
journal above all), naming the running one; a busy port is refused before the service
starts; a health answer counts only when it echoes this run's token.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from harness.cli import build_parser
from harness.data_dir_lock import LOCK_FILE, DataDirBusy, DataDirLock
from harness.errors import HarnessError
from harness.fake_stripe.resources import PAYMENT_INTENT
from harness.fake_stripe.state import StripeState
from harness.ports import PortBusy, port_is_free
from harness.service_process import RUN_HEADER, ServiceProcess
from harness.up import Harness
from tests.support.capture import CapturedRequest, CaptureServer

ANY_PORT = {"api_port": 0, "stripe_port": 0, "plugin_port": 0}


async def test_a_second_harness_on_the_data_dir_is_refused_and_the_first_loses_nothing(
    tmp_path: Path,
):
    data_dir = tmp_path / "harness"
    refused: DataDirBusy | None = None
    async with Harness(data_dir, **ANY_PORT) as first:
        written = (data_dir / "harness.json").read_text()
        try:
            async with Harness(data_dir, **ANY_PORT):
                pass
        except DataDirBusy as error:
            refused = error
        rewritten = (data_dir / "harness.json").read_text()
        # Acknowledged after the second start: a compaction under the first would lose it.
        async with httpx.AsyncClient(timeout=30) as http:
            created = await http.post(
                f"{first.stripe_url}/v1/payment_intents",
                data={"amount": "1000", "currency": "jpy"},
                headers={"Authorization": f"Bearer {first.settings['stripe_secret_key']}"},
            )
        assert created.status_code == 200, created.text

    reopened = StripeState(data_dir)
    kept = reopened.find(PAYMENT_INTENT, created.json()["id"])
    await reopened.close()
    assert kept is not None
    assert rewritten == written
    assert refused is not None
    assert f"pid {os.getpid()}" in str(refused)
    assert first.api_url in str(refused) and first.plugin_url in str(refused)


async def test_the_lock_is_free_again_once_the_harness_stopped(tmp_path: Path):
    data_dir = tmp_path / "harness"
    async with Harness(data_dir, **ANY_PORT):
        pass
    lock = DataDirLock(data_dir)

    lock.acquire()

    assert lock.held
    lock.release()


def test_a_refused_lock_names_the_holder_and_its_urls(tmp_path: Path):
    holder = DataDirLock(tmp_path)
    holder.acquire()
    holder.describe({"api": "http://127.0.0.1:8123", "plugin": "http://127.0.0.1:8124"})

    with pytest.raises(DataDirBusy) as refused:
        DataDirLock(tmp_path).acquire()

    message = str(refused.value)
    assert f"pid {os.getpid()}" in message
    assert "api http://127.0.0.1:8123, plugin http://127.0.0.1:8124" in message
    assert "\n" not in message
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    holder.release()


async def test_a_lock_held_by_a_killed_process_is_free(tmp_path: Path):
    # The kernel drops a flock with its holder: no stale lock after a kill -9.
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from pathlib import Path; from harness.data_dir_lock import DataDirLock;"
        " DataDirLock(Path(sys.argv[1])).acquire(); print('held', flush=True); sys.stdin.read()",
        str(tmp_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"held\n"
    with pytest.raises(DataDirBusy, match=f"pid {holder.pid}"):
        DataDirLock(tmp_path).acquire()

    holder.kill()
    await holder.wait()
    lock = DataDirLock(tmp_path)
    lock.acquire()

    assert lock.held
    lock.release()


async def test_a_busy_api_port_is_refused_before_the_service_starts(tmp_path: Path):
    async with CaptureServer() as stranger:
        stranger.answer("/api/v1/health", json={"success": True, "status": "ok"})

        with pytest.raises(PortBusy, match=f"port {stranger.port} .* in use"):
            async with Harness(tmp_path / "harness", **{**ANY_PORT, "api_port": stranger.port}):
                pass

    assert not (tmp_path / "harness" / "harness.json").exists()
    assert not (tmp_path / "harness" / "service.log").exists()


async def test_a_health_answer_without_this_runs_token_is_not_readiness(tmp_path: Path):
    service = ServiceProcess(port=0, workers=1, env=dict(os.environ), log_path=tmp_path / "log")
    # A child that never serves; the stranger below ends it once polled three times.
    service.command = [sys.executable, "-c", "import signal; signal.pause()"]
    polled = asyncio.Event()

    async def answer(request: CapturedRequest) -> web.StreamResponse:
        if len(stranger.requests) >= 3:
            polled.set()
            assert service.process is not None
            service.process.terminate()
        return web.json_response({"success": True, "status": "ok"})

    async with CaptureServer(answer) as stranger:
        service.url = stranger.url
        await service.start()
        try:
            with pytest.raises(HarnessError, match="exited"):
                await service.wait_healthy(60, asyncio.Event())
        finally:
            await service.stop()

    assert polled.is_set()


async def test_a_health_answer_echoing_this_runs_token_is_readiness(tmp_path: Path):
    service = ServiceProcess(port=0, workers=1, env=dict(os.environ), log_path=tmp_path / "log")
    service.command = [sys.executable, "-c", "import signal; signal.pause()"]

    async def answer(request: CapturedRequest) -> web.StreamResponse:
        return web.json_response({"success": True}, headers={RUN_HEADER: service.run_token})

    async with CaptureServer(answer) as ours:
        service.url = ours.url
        await service.start()
        try:
            await service.wait_healthy(60, asyncio.Event())
        finally:
            await service.stop()

    assert service.env["RAKUBUN_HARNESS_RUN"] == service.run_token


@pytest.mark.parametrize(
    "argv", [["--api-port", "70000"], ["--plugin-port", "-1"], ["--stripe-port", "x"]]
)
def test_a_port_out_of_range_is_a_usage_error(argv: list[str], capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["up", *argv])

    assert exited.value.code == 2
    assert "is not a port" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
async def test_an_unreadable_harness_json_is_refused_and_kept(tmp_path: Path, text: str):
    data_dir = tmp_path / "harness"
    data_dir.mkdir()
    (data_dir / "harness.json").write_text(text)

    with pytest.raises(HarnessError, match="harness.json: .*harness.json"):
        async with Harness(data_dir, **ANY_PORT):
            pass

    assert (data_dir / "harness.json").read_text() == text
    lock = DataDirLock(data_dir)
    lock.acquire()  # the refused start released it
    lock.release()


def test_a_port_whose_last_connections_linger_in_time_wait_is_free():
    # A restart on the same ports (HarnessProcess.restart) must not be refused.
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp and Sanic
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the server closes first: its side of the connection waits in TIME_WAIT
        client.close()
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        busy = listening.getsockname()[1]

        assert port_is_free(port)
        assert not port_is_free(busy)
