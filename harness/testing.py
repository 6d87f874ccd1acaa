"""`rakubun-harness up` for test suites: a real process, and HTTP handles on what it runs.

This module owns the process: start, stop, restart, its output. The service, the fake Stripe
and the WordPress stand-in are driven only through their HTTP APIs, by the one client of a
running harness (`harness.client.HarnessClient`); nothing here reaches into a process. The
pytest plugin (`harness.pytest_plugin`) hands these out as fixtures.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.client import FakeStripeClient, HarnessClient, ServiceAdminClient, SimulatorClient
from harness.harness_file import HarnessAddresses

UP_COMMAND = [sys.executable, "-c", "from harness.cli import main; main()", "up"]
UP_LOG = "up.log"
STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0


class HarnessFailed(AssertionError):
    """`up` did not become ready, or did not stop cleanly; the message has its output."""


@dataclass(frozen=True)
class HarnessUrls:
    """Where a running harness listens."""

    api: str
    stripe: str
    plugin: str

    @property
    def api_base(self) -> str:
        """The plugin's API base (`{api}/api/v1`)."""
        return f"{self.api}/api/v1"

    @property
    def docs(self) -> str:
        """The service's API reference page."""
        return f"{self.api}/api/v1/docs"


@dataclass
class HarnessProcess(HarnessAddresses):
    """One `rakubun-harness up` process on a data dir, and a `HarnessClient` for its parts.

    Its output goes to `<data_dir>/up.log` (a file, not a pipe that could fill up).
    """

    data_dir: Path
    process: subprocess.Popen[bytes]
    settings: dict[str, Any]
    #: `up`'s options as started (`restart` passes them again).
    options: tuple[str, ...] = ()
    client: HarnessClient = field(init=False)
    # The parts, over HTTP: the client's own, at hand.
    #: The fake Stripe's control API: `pay`, `drain`, `faults`, `deliveries`, `resend`.
    stripe: FakeStripeClient = field(init=False)
    #: The plugin on the WordPress stand-in: `register`, `call`, `webhooks`.
    plugin: SimulatorClient = field(init=False)
    #: The service's admin API with the harness's admin token.
    admin: ServiceAdminClient = field(init=False)
    #: The HTTP client the parts share, for a call none of them makes.
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self._use(HarnessClient(self.settings))

    def _use(self, client: HarnessClient) -> None:
        self.client = client
        self.stripe, self.plugin, self.admin, self.http = (
            client.stripe,
            client.plugin,
            client.admin,
            client.http,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    async def start(cls, data_dir: Path, *options: str) -> HarnessProcess:
        """Start `up` on `data_dir`, wait for its ready line, and read harness.json.

        `options` are `up`'s (`--mongodb-url`, `--api-port`, ...).
        """
        from harness.up import READY_LINE

        data_dir.mkdir(parents=True, exist_ok=True)
        log_path = data_dir / UP_LOG
        offset = log_path.stat().st_size if log_path.exists() else 0
        env = dict(os.environ)
        # One MongoDB database per data dir, so runs never see each other's sites.
        run_id = uuid.uuid5(uuid.NAMESPACE_URL, str(data_dir.resolve())).hex[:12]
        env.setdefault("MONGODB_DATABASE", f"rakubun_e2e_{run_id}")
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [*UP_COMMAND, "--data-dir", str(data_dir), *options],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            output = _read_from(log_path, offset)
            if READY_LINE in output.splitlines():
                break
            if process.poll() is not None or time.monotonic() > deadline:
                if process.poll() is None:
                    process.kill()
                    process.wait(STOP_TIMEOUT)
                raise HarnessFailed(
                    f"`up` was not ready (exit status {process.returncode}):\n"
                    f"{output}\n{_service_log_tail(data_dir)}"
                )
            await asyncio.sleep(0.05)
        settings = json.loads((data_dir / "harness.json").read_text())
        return cls(data_dir, process, settings, options)

    async def stop(self) -> int:
        """SIGTERM, wait, and answer the exit status (the caller asserts it is 0)."""
        await self.client.aclose()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.process.wait, STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
            raise HarnessFailed(f"`up` ignored SIGTERM for {STOP_TIMEOUT:.0f}s") from None

    async def restart(self) -> None:
        """Stop cleanly, then run `up` again on the same data dir and the same ports.

        The same ports keep every URL valid: the site_url WordPress registered with, and the
        service URL the fake Stripe sends its events to.
        """
        status = await self.stop()
        if status != 0:
            raise HarnessFailed(f"`up` exited with {status} when stopped:\n{self.output}")
        ports = [
            (option, self.settings[key].rsplit(":", 1)[1])
            for option, key in (
                ("--api-port", "api_url"),
                ("--stripe-port", "stripe_url"),
                ("--plugin-port", "plugin_url"),
            )
        ]
        again = await HarnessProcess.start(
            self.data_dir, *self.options, *(word for pair in ports for word in pair)
        )
        self.process, self.settings = again.process, again.settings
        self._use(again.client)

    @property
    def output(self) -> str:
        return _read_from(self.data_dir / UP_LOG, 0)

    # -- where things are ---------------------------------------------------------------------

    @property
    def urls(self) -> HarnessUrls:
        return HarnessUrls(self.api_url, self.stripe_url, self.plugin_url)

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings['admin_token']}"}


def _read_from(path: Path, offset: int) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def _service_log_tail(data_dir: Path, lines: int = 40) -> str:
    text = _read_from(data_dir / "service.log", 0).splitlines()
    return "service.log:\n" + "\n".join(text[-lines:])
