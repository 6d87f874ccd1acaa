"""The one way the suites start the service: the real app on a real socket on 127.0.0.1, on
a temp SQLite file, in the running event loop (`start_service`) or, for synchronous callers
such as schemathesis, in a loop of its own in a background thread (`ServiceThread`)."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

from service.http.app import create_app, new_app_name
from service.http.contract import Contract
from service.settings import Settings

ADMIN_TOKEN = "admin-" + "x" * 32

T = TypeVar("T")


class NoDnsResolver(AbstractResolver):
    """The tests' services send webhooks to 127.0.0.1 only: `localhost` resolves, every other
    name fails here without asking DNS (a test needing a name gives its own resolver)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host.lower().rstrip(".") != "localhost":
            raise OSError(f"tests resolve no names ({host})")
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


def without_dns(app: Any) -> Any:
    """Give the app's webhook dispatcher the NoDnsResolver (before its first delivery)."""
    app.ctx.services.dispatcher.resolver = NoDnsResolver()
    return app


def service_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "sqlite_path": tmp_path / "rakubun.sqlite3",
        "sqlite_synchronous": "NORMAL",
        "admin_api_token": ADMIN_TOKEN,
        "rate_limit_per_minute": 10_000,
        "validate_responses": True,
        "access_log": False,
        "webhook_retry_delays": (0.05, 0.1, 0.2),
        "webhook_poll_seconds": 0.5,
        "webhook_timeout_seconds": 3.0,
        # The suites' WordPress stand-ins listen on 127.0.0.1 and read every provider key,
        # as under `rakubun-harness up`; the tests of those rules turn these off.
        "webhook_allow_private_targets": True,
        # Whatever site URL a test (or a fuzzer) registers, no webhook leaves the machine.
        "webhook_loopback_only": True,
        "provider_key_policy": "all",
    }
    values.update(overrides)
    return Settings.from_env({}, **values)


@dataclass
class RunningService:
    """A service answering on a real socket, with handles on its insides for assertions."""

    url: str
    app: Any
    settings: Settings
    http: httpx.AsyncClient
    server: Any = None

    async def stop(self) -> None:
        """Stop this service now (as a shutdown would), before the test ends."""
        if self.server is not None and self.server.is_serving():
            await self.server.before_stop()
            await self.server.close()
            await self.server.after_stop()

    @property
    def services(self) -> Any:
        return self.app.ctx.services

    @property
    def store(self) -> Any:
        return self.services.store

    @property
    def admin_token(self) -> str:
        return str(self.settings.admin_api_token)

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def register(self, site_url: str = "http://127.0.0.1:9", **extra: Any) -> Site:
        instance_id = str(uuid.uuid4())
        response = await self.http.post(
            f"{self.url}/api/v1/plugins/register",
            json={
                "instance_id": instance_id,
                "site_url": site_url,
                "admin_email": "admin@example.com",
                **extra,
            },
        )
        assert response.status_code == 200, response.text
        return Site(self, instance_id, response.json())


@dataclass
class Site:
    """A registered site, with the plugin's headers ready."""

    service: RunningService
    instance_id: str
    registration: dict[str, Any]

    @property
    def site_id(self) -> str:
        return self.registration["site_id"]

    @property
    def token(self) -> str:
        return self.registration["api_token"]

    @property
    def webhook_secret(self) -> str:
        return self.registration["webhook_secret"]

    def headers(self, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "X-Instance-ID": self.instance_id,
            "User-Agent": "Rakubun-WordPress-Plugin/2.2.0",
            **extra,
        }

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.service.http.get(
            f"{self.service.url}/api/v1{path}", headers=self.headers(), **kw
        )

    async def post(
        self, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        return await self.service.http.post(
            f"{self.service.url}/api/v1{path}",
            json=json,
            headers={**self.headers(), **(headers or {})},
            **kw,
        )

    async def put(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.service.http.put(
            f"{self.service.url}/api/v1{path}", json=json, headers=self.headers(), **kw
        )

    async def credits(self, user_id: int | str = 1) -> dict[str, int]:
        response = await self.get("/users/credits", params={"user_id": str(user_id)})
        assert response.status_code == 200, response.text
        return response.json()["credits"]


async def start_service(
    tmp_path: Path,
    contract: Contract | None = None,
    *,
    prepare: Callable[[Any], None] | None = None,
    store: Any = None,
    **overrides: Any,
) -> RunningService:
    """The service on a free port of 127.0.0.1, serving from the running loop (bound to
    `contract` when given, else `openapi.yaml`; on `store` when given, else the settings' SQLite
    file; `prepare(app)` runs before it starts); the caller closes `http` and calls `stop()`."""
    settings = service_settings(tmp_path, **overrides)
    # Site URLs name made-up hosts (fuzzers, tests of refusals): never look them up in DNS.
    app = without_dns(
        create_app(settings, store=store, name=new_app_name(), contract=contract, touchup=False)
    )
    if prepare is not None:
        prepare(app)
    # Sanic reads port 0 as "default" (8000): hand it a socket bound to a free port instead.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    port = server.server.sockets[0].getsockname()[1]
    return RunningService(
        f"http://127.0.0.1:{port}", app, settings, httpx.AsyncClient(timeout=30), server
    )


class LoopThread:
    """An event loop running in a daemon thread; `call` runs a coroutine on it and waits."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(15)
        self.loop.close()


@dataclass
class ServiceThread:
    """`start_service` in a loop of its own in a background thread, for synchronous callers."""

    running: RunningService
    _runner: LoopThread
    #: What synchronous callers read of the service; none of it changes while it runs.
    url: str = field(init=False)
    app: Any = field(init=False)
    settings: Settings = field(init=False)
    admin_token: str = field(init=False)

    def __post_init__(self) -> None:
        running = self.running
        self.url, self.app, self.settings = running.url, running.app, running.settings
        self.admin_token = running.admin_token

    @classmethod
    def start(cls, tmp_path: Path, **overrides: Any) -> ServiceThread:
        runner = LoopThread("rakubun-service")
        try:
            running = runner.call(start_service(tmp_path, **overrides))
        except BaseException:
            runner.stop()
            raise
        return cls(running, runner)

    def stop(self) -> None:
        async def shutdown() -> None:
            await self.running.http.aclose()
            await self.running.stop()

        try:
            self._runner.call(shutdown(), timeout=30)
        finally:
            self._runner.stop()
