"""One client for a running harness: the fake Stripe, the WordPress stand-in, the service.

Everything goes over HTTP through one `httpx.AsyncClient`: the fake's `/_harness/` control
API and its Stripe API, the simulator's `/_sim/` control API, and the service's admin API.
A call that gets no answer, or an answer outside 2xx, raises `HarnessCallFailed`, whose
message names the part that answered and what it said. `rakubun-harness buy` and `trigger`,
the pytest plugin and `harness.testing` all use this module; nothing else speaks to these
APIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import httpx

from harness.console import short


class HarnessCallFailed(Exception):
    """A part of the running harness was unreachable, or answered outside 2xx."""


class _Remote:
    """One part of the harness behind a base URL, on the shared HTTP client."""

    #: How the part is named in errors ("fake Stripe answered 404: ...").
    name = ""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """`{base_url}/{path}`: the decoded JSON answer (text when it is not JSON)."""
        url = f"{self.base_url}/{path}"
        try:
            response = await self.http.request(
                method,
                url,
                json=dict(body) if body is not None and method != "GET" else None,
                params={k: v for k, v in (params or {}).items() if v is not None} or None,
                headers=headers,
            )
        except httpx.TransportError as error:
            raise HarnessCallFailed(f"{url} is unreachable ({error!r}); is `up` running?") from None
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        if not response.is_success:
            raise HarnessCallFailed(
                f"{self.name} answered {response.status_code}: {short(answer)}"
                f" ({method} {url.split('?')[0]})"
            )
        return answer


def _bearer(token: str) -> dict[str, str]:
    # Without a token nothing is sent: the part answers 401, which says more than a blank.
    return {"Authorization": f"Bearer {token}"} if token else {}


class FakeStripeClient(_Remote):
    """The fake Stripe: its `/_harness/` control API, and GETs from its Stripe API."""

    name = "fake Stripe"

    def __init__(self, http: httpx.AsyncClient, stripe_url: str, secret_key: str) -> None:
        super().__init__(http, stripe_url)
        self._secret_key = secret_key

    async def control(
        self, path: str, body: Mapping[str, Any] | None = None, *, method: str = "POST"
    ) -> Any:
        """`{stripe_url}/_harness/{path}` (a POST unless `method` says otherwise)."""
        return await self.request(method, f"_harness/{path}", body if body is not None else {})

    async def complete_session(self, session_id: str, outcome: str = "paid") -> dict[str, Any]:
        """Finish the hosted checkout as the customer; answers `session` and `redirect_url`."""
        path = f"checkout/sessions/{session_id}/complete"
        return dict(await self.control(path, {"outcome": outcome}))

    async def pay(self, session_id: str, outcome: str = "paid") -> dict[str, Any]:
        """Finish the hosted checkout as the customer: paid, declined, canceled or expired."""
        return dict((await self.complete_session(session_id, outcome))["session"])

    async def succeed_intent(self, intent_id: str) -> dict[str, Any]:
        """Make an unfinished PaymentIntent succeed with the test card."""
        return dict(await self.control(f"payment_intents/{intent_id}/succeed"))

    async def faults(self, **faults: Any) -> None:
        """Add faults for the next deliveries (`duplicate=1`, `bad_signature=True`, ...)."""
        await self.control("faults", faults)

    async def clear_faults(self) -> None:
        """Forget every pending fault."""
        await self.control("faults", method="DELETE")

    async def drain(self, timeout: float = 30) -> None:
        """Wait until the fake has no Stripe webhook queued, delayed or in flight."""
        await self.control("drain", {"timeout": timeout})

    async def deliveries(self, **filters: str) -> list[dict[str, Any]]:
        """The fake's Stripe webhook attempts (`event_id=`, `type=`), oldest first."""
        return list(await self.request("GET", "_harness/deliveries", params=filters))

    async def event_ids(self, event_type: str) -> list[str]:
        """Ids of the events of a type the fake sent (or dropped), oldest first."""
        ids: list[str] = []
        for attempt in await self.deliveries(type=event_type):
            if attempt["event_id"] not in ids:
                ids.append(attempt["event_id"])
        return ids

    async def resend(self, event_id: str) -> None:
        """Deliver a stored event again to its endpoints."""
        await self.control(f"events/{event_id}/resend")

    async def api_get(self, path: str) -> Any:
        """GET `{stripe_url}/v1/{path}` with the harness's secret key."""
        return await self.request("GET", f"v1/{path}", headers=_bearer(self._secret_key))


class SimulatorClient(_Remote):
    """The plugin on the WordPress stand-in, through the simulator's `/_sim/` control API."""

    name = "simulator"

    async def sim(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """`{plugin_url}/_sim/{path}`."""
        return await self.request(method, f"_sim/{path}", body if body is not None else {})

    async def register(self, *, force: bool = False) -> dict[str, Any]:
        """Activate the plugin: it registers with the service and keeps token and secret."""
        return dict(await self.sim("POST", "register", {"force": True} if force else {}))

    async def call(self, name: str, **overrides: Any) -> tuple[int, Any]:
        """One of the plugin's calls (plugin-calls.json names): the service's status and body."""
        answer = await self.sim("POST", f"call/{name}", overrides)
        return int(answer["status"]), answer["body"]

    async def webhooks(
        self,
        event: str | None = None,
        *,
        after: int | None = None,
        wait: float | None = None,
        count: int | None = None,
    ) -> list[dict[str, Any]]:
        """What WordPress received, in arrival order (after seq `after`); with `wait`, waits
        at most that long for `count` (default 1) to match."""
        return list(
            (await self._inbox(event=event, after=after, wait=wait, count=count))["webhooks"]
        )

    async def last_webhook_seq(self) -> int:
        """The seq of the newest webhook WordPress received (0 for none)."""
        return int((await self._inbox())["last_seq"])

    async def _inbox(self, **query: Any) -> dict[str, Any]:
        return dict(await self.request("GET", "_sim/webhooks", params=query))


class ServiceAdminClient(_Remote):
    """The service's admin API (`{api_url}/api/v1/admin/`) with the harness's admin token."""

    name = "service"

    def __init__(self, http: httpx.AsyncClient, api_url: str, admin_token: str) -> None:
        super().__init__(http, f"{api_url}/api/v1/admin")
        self.headers = _bearer(admin_token)

    async def get(self, path: str, **params: Any) -> Any:
        """GET `admin/{path}`."""
        return await self.request("GET", path, params=params, headers=self.headers)

    async def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """POST `admin/{path}`."""
        return await self.request("POST", path, body or {}, headers=self.headers)

    async def flush_webhooks(self) -> dict[str, Any]:
        """Attempt every pending plugin webhook now; answers when done."""
        return dict(await self.post("webhooks/flush"))

    async def site_id_of(self, instance_id: str) -> str:
        """The site id the service gave the plugin instance."""
        sites = (await self.get("sites", limit=200))["sites"]
        return next(s["site_id"] for s in sites if s["instance_id"] == instance_id)

    async def ledger(self, site_id: str) -> list[dict[str, Any]]:
        """A site's ledger entries, newest first."""
        return list((await self.get("ledger", site_id=site_id, limit=200))["transactions"])

    async def site_webhooks(self, site_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The service's webhook deliveries to a site, newest first."""
        return list((await self.get(f"sites/{site_id}/webhooks", limit=limit))["deliveries"])

    async def reconcile(self) -> dict[str, Any]:
        """The service's reconciliation report."""
        return dict(await self.post("reconcile"))


class HarnessClient:
    """The three parts of a running harness, from its `harness.json` settings, on one
    HTTP client: `stripe`, `plugin` and `admin`. Close it (or use `async with`)."""

    def __init__(self, settings: Mapping[str, Any], *, timeout: float = 60) -> None:
        self.settings = dict(settings)
        self.http = httpx.AsyncClient(timeout=timeout)
        self.stripe = FakeStripeClient(
            self.http, str(settings["stripe_url"]), str(settings.get("stripe_secret_key", ""))
        )
        self.plugin = SimulatorClient(self.http, str(settings["plugin_url"]))
        self.admin = ServiceAdminClient(
            self.http, str(settings["api_url"]), str(settings.get("admin_token", ""))
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
