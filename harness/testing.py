"""`rakubun-harness up` for test suites: a real process, and HTTP handles on what it runs.

The service, the fake Stripe and the WordPress stand-in are driven only through their HTTP
APIs: the service's plugin and admin API, the fake's `/_harness/` control API and the
simulator's `/_sim/` control API. Nothing here reaches into a process. The pytest plugin
(`harness.pytest_plugin`) hands these out as fixtures; this module imports nothing heavy
until a harness starts.
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


class FakeStripeControl:
    """The fake Stripe's control API (`{stripe_url}/_harness/`) of a running harness."""

    def __init__(self, up: HarnessProcess) -> None:
        self._up = up

    async def control(
        self, path: str, body: dict[str, Any] | None = None, *, method: str = "POST"
    ) -> Any:
        """`{stripe_url}/_harness/{path}`; anything but 200 fails the test."""
        response = await self._up.http.request(
            method, f"{self._up.stripe_url}/_harness/{path}", json=body if method != "GET" else None
        )
        assert response.status_code == 200, f"{method} _harness/{path}: {response.text}"
        return response.json()

    async def pay(self, session_id: str, outcome: str = "paid") -> dict[str, Any]:
        """Finish the hosted checkout as the customer: paid, declined, canceled or expired."""
        answer = await self.control(
            f"checkout/sessions/{session_id}/complete", {"outcome": outcome}
        )
        return dict(answer["session"])

    async def faults(self, **faults: Any) -> None:
        await self.control("faults", faults)

    async def clear_faults(self) -> None:
        await self.control("faults", method="DELETE")

    async def drain(self) -> None:
        """Wait until the fake has no Stripe webhook queued, delayed or in flight."""
        await self.control("drain", {"timeout": 30})

    async def deliveries(self, **filters: str) -> list[dict[str, Any]]:
        """The fake's Stripe webhook attempts (`event_id=`, `type=`), oldest first."""
        response = await self._up.http.get(
            f"{self._up.stripe_url}/_harness/deliveries", params=filters
        )
        assert response.status_code == 200, response.text
        return list(response.json())

    async def event_ids(self, event_type: str) -> list[str]:
        """Ids of the events of a type the fake sent (or dropped), oldest first."""
        ids: list[str] = []
        for attempt in await self.deliveries(type=event_type):
            if attempt["event_id"] not in ids:
                ids.append(attempt["event_id"])
        return ids

    async def resend(self, event_id: str) -> None:
        await self.control(f"events/{event_id}/resend")


class SimulatedPlugin:
    """The plugin on the harness's WordPress stand-in, through its `/_sim/` control API."""

    def __init__(self, up: HarnessProcess) -> None:
        self._up = up

    async def sim(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """`{plugin_url}/_sim/{path}`; anything but 200 fails the test."""
        response = await self._up.http.request(
            method, f"{self._up.plugin_url}/_sim/{path}", json=body if method != "GET" else None
        )
        assert response.status_code == 200, f"{method} _sim/{path}: {response.text}"
        return response.json()

    async def register(self) -> dict[str, Any]:
        """Activate the plugin: it registers with the service and keeps token and secret."""
        return dict(await self.sim("POST", "register"))

    async def call(self, name: str, **overrides: Any) -> tuple[int, Any]:
        """One of the plugin's calls (plugin-calls.json names): (status, body)."""
        answer = await self.sim("POST", f"call/{name}", overrides)
        return int(answer["status"]), answer["body"]

    async def webhooks(self, event: str | None = None) -> list[dict[str, Any]]:
        """What WordPress received, in arrival order."""
        response = await self._up.http.get(
            f"{self._up.plugin_url}/_sim/webhooks", params={"event": event} if event else None
        )
        assert response.status_code == 200, response.text
        return list(response.json()["webhooks"])


@dataclass
class HarnessProcess:
    """One `rakubun-harness up` process on a data dir, with an HTTP client for its parts.

    Its output goes to `<data_dir>/up.log` (a file, not a pipe that could fill up).
    """

    data_dir: Path
    process: subprocess.Popen[bytes]
    settings: dict[str, Any]
    #: `up`'s options as started (`restart` passes them again).
    options: tuple[str, ...] = ()
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=60))

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
        await self.http.aclose()
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
        self.process, self.settings, self.http = again.process, again.settings, again.http

    @property
    def output(self) -> str:
        return _read_from(self.data_dir / UP_LOG, 0)

    # -- where things are ---------------------------------------------------------------------

    @property
    def urls(self) -> HarnessUrls:
        return HarnessUrls(self.api_url, self.stripe_url, self.plugin_url)

    @property
    def api_url(self) -> str:
        return str(self.settings["api_url"])

    @property
    def stripe_url(self) -> str:
        return str(self.settings["stripe_url"])

    @property
    def plugin_url(self) -> str:
        return str(self.settings["plugin_url"])

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings['admin_token']}"}

    # -- the fake Stripe's control API ----------------------------------------------------------

    @property
    def stripe(self) -> FakeStripeControl:
        return FakeStripeControl(self)

    async def stripe_control(
        self, path: str, body: dict[str, Any] | None = None, *, method: str = "POST"
    ) -> Any:
        return await self.stripe.control(path, body, method=method)

    async def pay(self, session_id: str, outcome: str = "paid") -> dict[str, Any]:
        return await self.stripe.pay(session_id, outcome)

    async def faults(self, **faults: Any) -> None:
        await self.stripe.faults(**faults)

    async def clear_faults(self) -> None:
        await self.stripe.clear_faults()

    async def drain(self) -> None:
        await self.stripe.drain()

    async def deliveries(self, **filters: str) -> list[dict[str, Any]]:
        return await self.stripe.deliveries(**filters)

    async def event_ids(self, event_type: str) -> list[str]:
        return await self.stripe.event_ids(event_type)

    async def resend(self, event_id: str) -> None:
        await self.stripe.resend(event_id)

    # -- the WordPress stand-in -----------------------------------------------------------------

    @property
    def plugin(self) -> SimulatedPlugin:
        return SimulatedPlugin(self)

    async def sim(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return await self.plugin.sim(method, path, body)

    async def plugin_call(self, name: str, **overrides: Any) -> tuple[int, Any]:
        return await self.plugin.call(name, **overrides)

    async def plugin_webhooks(self, event: str | None = None) -> list[dict[str, Any]]:
        return await self.plugin.webhooks(event)

    # -- the service's admin API ----------------------------------------------------------------

    async def admin(self, method: str, path: str, **params: Any) -> Any:
        response = await self.http.request(
            method,
            f"{self.api_url}/api/v1/admin/{path}",
            headers=self.admin_headers,
            params=params or None,
        )
        assert response.status_code == 200, f"{method} admin/{path}: {response.text}"
        return response.json()

    async def flush_webhooks(self) -> dict[str, Any]:
        """Attempt every pending plugin webhook now; answers when done."""
        return dict(await self.admin("POST", "webhooks/flush"))

    async def site_id_of(self, instance_id: str) -> str:
        sites = (await self.admin("GET", "sites", limit=200))["sites"]
        return next(s["site_id"] for s in sites if s["instance_id"] == instance_id)

    async def ledger(self, site_id: str) -> list[dict[str, Any]]:
        return list((await self.admin("GET", "ledger", site_id=site_id, limit=200))["transactions"])

    async def site_webhooks(self, site_id: str) -> list[dict[str, Any]]:
        return list((await self.admin("GET", f"sites/{site_id}/webhooks", limit=200))["deliveries"])

    async def reconcile(self) -> dict[str, Any]:
        return dict(await self.admin("POST", "reconcile"))


def _read_from(path: Path, offset: int) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def _service_log_tail(data_dir: Path, lines: int = 40) -> str:
    text = _read_from(data_dir / "service.log", 0).splitlines()
    return "service.log:\n" + "\n".join(text[-lines:])
