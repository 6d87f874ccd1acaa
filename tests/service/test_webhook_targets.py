"""Webhooks go only to public hosts: site URLs are checked at registration and on update, and
every resolved address is checked again at delivery, before a socket is opened.

No test here sends anything anywhere but 127.0.0.1: names resolve through a stub resolver,
and refusals are proven by a listener on 127.0.0.1 that counts the connections it gets.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from service.outbound.notify import WebhookDispatcher
from service.settings import Settings
from tests.support.capture import CaptureServer
from tests.support.service import RunningService

REFUSED_SITE_URLS = [
    ("http://127.0.0.1:8080", "site_url_not_public"),
    ("http://127.1/", "site_url_not_public"),
    ("http://2130706433/", "site_url_not_public"),
    ("http://0177.0.0.1/", "site_url_not_public"),
    ("http://0x7f.0.0.1/", "site_url_not_public"),
    ("http://0.0.0.0/", "site_url_not_public"),
    ("http://10.0.0.5/", "site_url_not_public"),
    ("http://172.16.3.4/", "site_url_not_public"),
    ("http://192.168.1.1/", "site_url_not_public"),
    ("http://169.254.169.254/latest/meta-data", "site_url_not_public"),
    ("http://100.64.1.1/", "site_url_not_public"),
    ("http://localhost:8080", "site_url_not_public"),
    # The schema (SiteUrl) already refuses userinfo, queries and fragments.
    ("http://user:pass@blog.example.com", "validation_error"),
    ("https://blog.example.com/?x=", "validation_error"),
    ("https://blog.example.com/#top", "validation_error"),
    ("https://blog.example.com:0", "invalid_site_url"),
    ("https://blog.example.com:99999", "invalid_site_url"),
    ("https://bad!host.example.com", "invalid_site_url"),
]


class StubResolver(AbstractResolver):
    """Answers names from a table, like /etc/hosts; an unknown name fails as DNS would."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"stub resolver: unknown name {host}")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in self.table[host]
        ]

    async def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    """A proxy from the environment would carry these deliveries off 127.0.0.1."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
async def listener() -> AsyncIterator[CaptureServer]:
    """A WordPress stand-in on 127.0.0.1 that counts the connections it accepts."""
    async with CaptureServer() as counting:
        yield counting


async def register(service: RunningService, site_url: str):
    return await service.http.post(
        f"{service.url}/api/v1/plugins/register",
        json={
            "instance_id": str(uuid.uuid4()),
            "site_url": site_url,
            "admin_email": "admin@example.com",
        },
    )


async def with_stub_resolver(service: RunningService, table: dict[str, list[str]]) -> StubResolver:
    """Give the service a dispatcher whose names resolve from `table` (never through DNS)."""
    stub = StubResolver(table)
    service.services.dispatcher = WebhookDispatcher(service.store, service.settings, resolver=stub)
    return stub


async def send_test_webhook(service: RunningService, site_id: str) -> dict:
    admin = service.admin_headers()
    sent = await service.http.post(
        f"{service.url}/api/v1/admin/sites/{site_id}/webhooks/test", headers=admin
    )
    assert sent.status_code == 200, sent.text
    flushed = await service.http.post(f"{service.url}/api/v1/admin/webhooks/flush", headers=admin)
    assert flushed.status_code == 200, flushed.text
    listed = await service.http.get(
        f"{service.url}/api/v1/admin/sites/{site_id}/webhooks", headers=admin
    )
    [delivery] = [
        d
        for d in listed.json()["deliveries"]
        if d["delivery_id"] == sent.json()["delivery"]["delivery_id"]
    ]
    return delivery


def test_private_targets_are_refused_unless_the_setting_allows_them():
    assert Settings.from_env({}).webhook_allow_private_targets is False
    assert Settings.from_env({"WEBHOOK_ALLOW_PRIVATE_TARGETS": "1"}).webhook_allow_private_targets
    assert not Settings.from_env(
        {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "0"}
    ).webhook_allow_private_targets


# ---------------------------------------------------------------- registration and updates
@pytest.mark.parametrize(("site_url", "code"), REFUSED_SITE_URLS)
async def test_registration_refuses_site_urls_webhooks_may_not_go_to(make_service, site_url, code):
    service = await make_service(webhook_allow_private_targets=False)
    response = await register(service, site_url)

    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False and body["error"] == code and body["message"]
    assert "api_token" not in body
    assert await service.store.list_sites(limit=10) == []


async def test_registration_stores_a_public_site_url_without_resolving_it(make_service):
    # No background dispatcher: the one started with the service would outlive the stub's
    # swap and hold the shutdown for its 15 s timeout.
    service = await make_service(webhook_allow_private_targets=False, webhook_dispatch=False)
    stub = await with_stub_resolver(service, {})
    response = await register(service, "https://Blog.example.com/wp/")

    assert response.status_code == 200, response.text
    site = await service.store.get_site(response.json()["site_id"])
    assert site.site_url == "https://Blog.example.com/wp"
    assert stub.asked == []


@pytest.mark.parametrize(("site_url", "code"), REFUSED_SITE_URLS)
async def test_an_instance_update_cannot_point_the_site_at_a_refused_url(
    make_service, site_url, code
):
    service = await make_service(webhook_allow_private_targets=False)
    site = await service.register(site_url="https://blog.example.com")
    before = await service.store.get_site(site.site_id)

    response = await site.put(
        f"/instances/{site.instance_id}", json={"site_url": site_url, "plugin_version": "9.9.9"}
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"] == code
    assert await service.store.get_site(site.site_id) == before


async def test_local_development_accepts_loopback_site_urls(make_service):
    service = await make_service(webhook_allow_private_targets=True)
    assert (await register(service, "http://127.0.0.1:8080/wp")).status_code == 200
    assert (await register(service, "http://localhost:8080")).status_code == 200
    refused = await register(service, "http://169.254.169.254/")
    assert refused.status_code == 400 and refused.json()["error"] == "site_url_not_public"


# ---------------------------------------------------------------- delivery
async def test_a_name_that_resolves_to_loopback_is_refused_before_any_connection(
    make_service, listener
):
    service = await make_service(
        webhook_allow_private_targets=False,
        webhook_dispatch=False,
        webhook_retry_delays=(0.01, 0.01, 0.01),
    )
    stub = await with_stub_resolver(service, {"blog.example.com": ["127.0.0.1"]})
    site = await service.register(site_url=f"http://blog.example.com:{listener.port}")

    delivery = await send_test_webhook(service, site.site_id)

    assert "blog.example.com" in stub.asked
    assert listener.connections == 0
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert delivery["next_attempt_at"] is None
    assert "refused" in delivery["last_error"] and "127.0.0.1" in delivery["last_error"]
    # Failed for good: a later flush attempts nothing.
    again = await service.http.post(
        f"{service.url}/api/v1/admin/webhooks/flush", headers=service.admin_headers()
    )
    assert again.json()["attempted"] == 0 and listener.connections == 0


@pytest.mark.parametrize(
    "addresses",
    [["::1"], ["10.1.2.3"], ["::ffff:127.0.0.1"], ["169.254.169.254"], ["127.0.0.1", "::1"]],
)
async def test_every_non_public_resolution_is_refused(make_service, listener, addresses):
    service = await make_service(webhook_allow_private_targets=False, webhook_dispatch=False)
    await with_stub_resolver(service, {"blog.example.com": addresses})
    site = await service.register(site_url=f"http://blog.example.com:{listener.port}")

    delivery = await send_test_webhook(service, site.site_id)

    assert listener.connections == 0
    assert delivery["status"] == "failed" and "refused" in delivery["last_error"]


async def test_with_private_targets_allowed_the_same_name_is_delivered(make_service, listener):
    service = await make_service(webhook_allow_private_targets=True, webhook_dispatch=False)
    await with_stub_resolver(service, {"blog.example.com": ["127.0.0.1"]})
    site = await service.register(site_url=f"http://blog.example.com:{listener.port}")

    delivery = await send_test_webhook(service, site.site_id)

    assert delivery["status"] == "delivered"
    assert listener.connections == 1


async def test_a_stored_loopback_url_from_before_the_rules_is_refused_at_delivery(
    make_service, listener
):
    service = await make_service(webhook_allow_private_targets=False, webhook_dispatch=False)
    await with_stub_resolver(service, {})
    site = await service.register(site_url="https://blog.example.com")
    for spelling in ("127.0.0.1", "2130706433", "localhost"):
        # As a site registered before these rules would have it.
        await service.store.update_site(
            site.site_id, {"site_url": f"http://{spelling}:{listener.port}"}
        )

        delivery = await send_test_webhook(service, site.site_id)

        assert delivery["status"] == "failed" and "refused" in delivery["last_error"]
    assert listener.connections == 0


async def test_through_a_proxy_the_name_is_checked_before_the_proxy_is_asked(
    make_service, listener, monkeypatch
):
    # The listener plays the proxy: it is where a proxied delivery would connect.
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{listener.port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the test's own calls to the service
    # Every connection goes to the proxy on 127.0.0.1, so loopback-only may be off here.
    service = await make_service(
        webhook_allow_private_targets=False, webhook_dispatch=False, webhook_loopback_only=False
    )
    await with_stub_resolver(
        service, {"blog.example.com": ["127.0.0.1"], "public.example.com": ["93.184.216.34"]}
    )
    refused_site = await service.register(site_url="http://blog.example.com")
    public_site = await service.register(site_url="http://public.example.com")

    refused = await send_test_webhook(service, refused_site.site_id)
    assert refused["status"] == "failed" and "refused" in refused["last_error"]
    assert listener.connections == 0

    delivered = await send_test_webhook(service, public_site.site_id)
    assert delivered["status"] == "delivered"
    assert listener.connections == 1  # the proxy, on 127.0.0.1, is the operator's: not refused


async def test_a_site_cannot_name_the_proxy_whose_name_goes_unchecked(
    make_service, listener, monkeypatch
):
    monkeypatch.setenv("HTTP_PROXY", f"http://proxy.example.com:{listener.port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,proxy.example.com")
    service = await make_service(webhook_allow_private_targets=False, webhook_dispatch=False)
    await with_stub_resolver(service, {"proxy.example.com": ["127.0.0.1"]})
    site = await service.register(site_url=f"http://proxy.example.com:{listener.port}")

    delivery = await send_test_webhook(service, site.site_id)

    assert delivery["status"] == "failed" and "proxy" in delivery["last_error"]
    assert listener.connections == 0


# ---------------------------------------------------------------- loopback only (the suites)
async def test_loopback_only_refuses_a_public_address_before_any_connection(make_service):
    # The suites' services run with WEBHOOK_LOOPBACK_ONLY: a fuzzed public site URL is refused
    # by the guard (no socket is opened for a refused target), recorded as failed for good.
    service = await make_service(webhook_dispatch=False)
    assert service.settings.webhook_loopback_only
    site = await service.register(site_url="http://93.184.216.34/blog")

    delivery = await send_test_webhook(service, site.site_id)

    assert delivery["status"] == "failed" and delivery["next_attempt_at"] is None
    assert "site_url_not_loopback" in delivery["last_error"]


async def test_loopback_only_refuses_a_name_resolving_to_a_public_address(make_service):
    service = await make_service(webhook_dispatch=False)
    stub = await with_stub_resolver(service, {"blog.example.com": ["93.184.216.34"]})
    site = await service.register(site_url="http://blog.example.com")

    delivery = await send_test_webhook(service, site.site_id)

    assert "blog.example.com" in stub.asked
    assert delivery["status"] == "failed" and "site_url_not_loopback" in delivery["last_error"]


async def test_loopback_only_still_delivers_to_loopback(make_service, listener):
    service = await make_service(webhook_dispatch=False)
    site = await service.register(site_url=f"http://127.0.0.1:{listener.port}")

    delivery = await send_test_webhook(service, site.site_id)

    assert delivery["status"] == "delivered" and listener.connections == 1
