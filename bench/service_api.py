"""The bench's own calls to the service, through its public API only: register a site,
seed users, top up balances, read balances, reconcile, wait for the webhook outbox."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

#: As in contracts/plugin-calls.json (the plugin's own calls).
PLUGIN_USER_AGENT = "Rakubun-WordPress-Plugin/2.2.0"
ADMIN_PAGE = 200


class ApiCallFailed(RuntimeError):
    """The service refused one of the bench's own set-up or check calls."""


@dataclass(frozen=True)
class BenchSite:
    """A registered site, with the headers the plugin sends."""

    site_id: str
    instance_id: str
    api_token: str
    site_url: str

    def plugin_headers(self) -> dict[str, str]:
        """The plugin's API client (credits, deductions)."""
        return {
            "Authorization": f"Bearer {self.api_token}",
            "Content-Type": "application/json",
            "X-Instance-ID": self.instance_id,
            "User-Agent": PLUGIN_USER_AGENT,
        }

    def wordpress_headers(self) -> dict[str, str]:
        """WordPress's HTTP API, which the plugin's purchase page uses."""
        return {**self.plugin_headers(), "User-Agent": f"WordPress/6.8.1; {self.site_url}"}


def user_email(user_id: int) -> str:
    return f"user{user_id}@example.com"


#: user_id -> {"article_credits": n, "image_credits": n, "rewrite_credits": n}
Balances = dict[str, dict[str, int]]


class ServiceApi:
    def __init__(self, base_url: str, admin_token: str, *, parallel: int = 16) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_headers = {"Authorization": f"Bearer {admin_token}"}
        self.http = httpx.AsyncClient(base_url=self.base_url + "/api/v1", timeout=30)
        self._parallel = asyncio.Semaphore(parallel)

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self._parallel:
            response = await self.http.request(method, path, **kwargs)
        if response.status_code != 200:
            raise ApiCallFailed(
                f"{method} {path} answered {response.status_code}: {response.text[:300]}"
            )
        return response.json()

    async def register_site(self, site_url: str) -> BenchSite:
        instance_id = str(uuid.uuid4())
        body = await self._call(
            "POST",
            "/plugins/register",
            json={
                "instance_id": instance_id,
                "site_url": site_url,
                "admin_email": "bench@example.com",
                "site_title": "bench",
            },
        )
        return BenchSite(body["site_id"], instance_id, body["api_token"], site_url)

    async def credits(self, site: BenchSite, user_id: int) -> dict[str, int]:
        """GET /users/credits (creates the user, with an email and the free credits)."""
        body = await self._call(
            "GET",
            "/users/credits",
            headers=site.plugin_headers(),
            params={
                "user_id": str(user_id),
                "user_email": user_email(user_id),
                "site_url": site.site_url,
            },
        )
        return body["credits"]

    async def top_up(self, site: BenchSite, user_id: int, credit_type: str, amount: int) -> None:
        await self._call(
            "POST",
            f"/admin/sites/{site.site_id}/users/{user_id}/credits",
            headers=self.admin_headers,
            json={"credit_type": credit_type, "amount": amount, "reason": "bench seed"},
        )

    async def seed_users(
        self, site: BenchSite, user_ids: Iterable[int], credit_type: str, top_up: int
    ) -> None:
        """Create each user (email, free credits), then add `top_up` credits of `credit_type`."""

        async def seed(user_id: int) -> None:
            await self.credits(site, user_id)
            if top_up:
                await self.top_up(site, user_id, credit_type, top_up)

        await asyncio.gather(*(seed(u) for u in user_ids))

    async def balances(self, site: BenchSite) -> Balances:
        """Every user's balances of `site`, read page by page through the admin API."""
        found: Balances = {}
        offset = 0
        while True:
            body = await self._call(
                "GET",
                f"/admin/sites/{site.site_id}/users",
                headers=self.admin_headers,
                params={"limit": ADMIN_PAGE, "offset": offset},
            )
            for user in body["users"]:
                found[str(user["user_id"])] = dict(user["credits"])
            if len(body["users"]) < ADMIN_PAGE:
                return found
            offset += ADMIN_PAGE

    async def reconcile(self) -> dict[str, Any]:
        return await self._call("POST", "/admin/reconcile", headers=self.admin_headers)

    async def pending_webhooks(self) -> int:
        body = await self._call("GET", "/admin/stats", headers=self.admin_headers)
        return int((body.get("webhooks") or {}).get("pending", 0))

    async def wait_for_outbox(self, timeout: float) -> tuple[bool, float]:
        """Wait until no plugin webhook is pending; answers (drained, seconds waited)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            if await self.pending_webhooks() == 0:
                return True, loop.time() - started
            if loop.time() - started > timeout:
                return False, loop.time() - started
            await asyncio.sleep(0.2)

    async def send(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> httpx.Response:
        """One request exactly as a scenario sends it (used to size the baseline's answer)."""
        return await self.http.request(
            method, path.removeprefix("/api/v1"), headers=headers, content=body
        )
