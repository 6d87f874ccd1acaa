"""FakeStripe: the aiohttp app, its routes, and its start/stop lifecycle in any asyncio loop."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from . import checkout_page, control, stripe_js
from .api import add_api_routes
from .context import CONTEXT, FakeContext
from .faults import Faults
from .idempotency import idempotent_replay
from .middleware import request_ids, require_api_key, stripe_errors, stripe_params
from .resources import WEBHOOK_ENDPOINT
from .state import StripeState
from .webhook_endpoints import create_endpoint, with_secret
from .webhooks import WebhookDispatcher

DEFAULT_RETRY_DELAYS = (1, 2, 4, 8, 16, 32)


def make_app(ctx: FakeContext) -> web.Application:
    """The aiohttp app: `/v1` API, `/checkout/pay` page, `/v3` Stripe.js, `/_harness` control."""
    app = web.Application(
        middlewares=[stripe_errors, request_ids, require_api_key, stripe_params, idempotent_replay]
    )
    app[CONTEXT] = ctx
    add_api_routes(app)
    app.router.add_routes(checkout_page.routes)
    app.router.add_routes(stripe_js.routes)
    app.router.add_routes(control.routes)
    app.router.add_get("/", _to_inspector)
    return app


async def _to_inspector(request: web.Request) -> web.Response:
    raise web.HTTPFound("/_harness/")


class FakeStripe:
    """A stateful fake Stripe that the official SDK talks to when its API base points here.

    With `data_dir`, state is loaded from `data_dir/fake-stripe.jsonl` when the fake is built
    and journaled there before each answer that changed it (a `fake-stripe.json` from older
    versions is read once). Pending webhook deliveries are not persisted.
    """

    def __init__(
        self,
        *,
        secret_key: str = "sk_test_harness",
        publishable_key: str = "pk_test_harness",
        data_dir: pathlib.Path | None = None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        self.secret_key = secret_key
        self.publishable_key = publishable_key
        self.state = StripeState(data_dir)
        self.webhooks = WebhookDispatcher(self.state, retry_delays)
        self.state.listeners.append(self.webhooks.publish)
        self.url = ""
        self._ctx = FakeContext(self.state, self.webhooks, secret_key, publishable_key)
        self._runner: web.AppRunner | None = None

    @property
    def faults(self) -> Faults:
        """Pending webhook faults (the control API's `/_harness/faults`)."""
        return self.webhooks.faults

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """Every webhook delivery attempt, oldest first."""
        return self.webhooks.attempts

    def add_webhook_endpoint(self, url: str, secret: str | None = None) -> dict[str, Any]:
        """Send all events to `url`; returns the webhook_endpoint including its `secret`.

        Calling again with the same url (e.g. after a restart from `data_dir`) reuses that
        endpoint, replacing its secret when one is given, instead of adding a second one.
        """
        existing = [e for e in self.state.newest_first(WEBHOOK_ENDPOINT) if e["url"] == url]
        if existing:
            endpoint = existing[0]
            if secret:
                self.state.webhook_secrets[endpoint["id"]] = secret
            result = with_secret(self.state, endpoint)
        else:
            result = create_endpoint(self.state, url, ["*"], secret=secret)
        self.state.flush()
        return result

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 picks a free port); returns the base url."""
        self._runner = web.AppRunner(make_app(self._ctx), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_port = self._runner.addresses[0][1]
        public_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
        self.url = self._ctx.base_url = f"http://{public_host}:{bound_port}"
        await self.webhooks.start()
        return self.url

    async def stop(self) -> None:
        """Stop serving, abandon pending deliveries, and save state."""
        await self.webhooks.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.state.close()

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until no webhook delivery is queued, delayed or in flight.

        An event held back by `reverse_pairs` without a partner is sent first. Raises
        TimeoutError after `timeout` seconds (e.g. while a long retry delay is pending).
        """
        await self.webhooks.drain(timeout)

    async def __aenter__(self) -> FakeStripe:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
