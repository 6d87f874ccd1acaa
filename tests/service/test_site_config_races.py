"""An admin's change of a site's config (provider access, overrides) survives the plugin's
writes of its own provider choice, whatever the order and whatever copy of the site each
writer holds: the store changes named keys, never a whole config rebuilt from a copy.

Two services on one store stand for two workers of a deployment: the plugin's calls go to
one, the admin's to the other, so the plugin's worker answers from its cached site (stale for
up to its cache's `check_every`) while the admin's change lands. Each test runs on SQLite (one
file) and on MongoStore over the mongomock shim (`tests/store/mongomock_async.py`: it checks
what the adapter sends and runs each call atomically, it is NOT MongoDB).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from service.flows.site_config import set_provider_access
from tests.support.answers import told
from tests.support.service import RunningService, Site

OPENAI_KEY = "sk-test-openai-key-value-0002"
PLUGIN_CLIENTS = 8


@pytest.fixture(autouse=True)
def no_provider_keys_in_the_environment(monkeypatch):
    for name in ("OPENAI_API_KEY", "NOVITA_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["sqlite", "mongomock"])
def make_worker(request, make_service) -> Callable[[], Awaitable[RunningService]]:
    """Start another worker (a service with its own site cache) on this test's one store."""
    if request.param == "sqlite":
        return lambda: make_service(provider_key_policy="approved")
    pytest.importorskip("mongomock", reason="mongomock not installed")
    from service.store.mongo import MongoStore
    from tests.store.mongomock_async import AsyncMongoClient, ShimServer

    server = ShimServer()

    def on_the_shim() -> Awaitable[RunningService]:
        store = MongoStore(
            "mongodb://mongomock.invalid/?replicaSet=rs0",
            database="rakubun_test",
            client=AsyncMongoClient(server),  # type: ignore[arg-type]
        )
        return make_service(provider_key_policy="approved", store=store)

    return on_the_shim


@pytest.fixture
async def workers(make_worker) -> tuple[RunningService, RunningService]:
    """(the plugin's worker, the admin's worker): one store, each its own site cache; the
    deployment holds an OpenAI key."""
    plugin_worker, admin_worker = await make_worker(), await make_worker()
    response = await admin_worker.http.put(
        f"{admin_worker.url}/api/v1/admin/config/providers/openai",
        json={"api_key": OPENAI_KEY},
        headers=admin_worker.admin_headers(),
    )
    assert response.status_code == 200, response.text
    return plugin_worker, admin_worker


async def admin_put(worker: RunningService, site: Site, path: str, body: dict):
    response = await worker.http.put(
        f"{worker.url}/api/v1/admin/sites/{site.site_id}{path}",
        json=body,
        headers=worker.admin_headers(),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def admin_view(worker: RunningService, site: Site) -> dict:
    response = await worker.http.get(
        f"{worker.url}/api/v1/admin/sites/{site.site_id}", headers=worker.admin_headers()
    )
    assert response.status_code == 200, response.text
    return response.json()["site"]


async def approved_and_cached(workers: tuple[RunningService, RunningService]) -> Site:
    """A site the admin approved, cached as approved by the plugin's worker, whose cache
    then keeps that copy for the rest of the test (as between two version checks)."""
    plugin_worker, admin_worker = workers
    site = await plugin_worker.register()
    await admin_put(admin_worker, site, "/provider-access", {"approved": True})
    assert (await site.get("/config/openai")).json()["api_key"] == OPENAI_KEY
    plugin_worker.store.check_every = 3600
    return site


async def test_a_revocation_survives_a_plugin_write_from_a_stale_cached_site(workers):
    plugin_worker, admin_worker = workers
    site = await approved_and_cached(workers)
    revoked = await admin_put(admin_worker, site, "/provider-access", {"approved": False})
    assert revoked["site"]["provider_access"] == "not_approved"

    chosen = await site.put("/config/provider", json={"provider": "openai"})

    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["api_key"] is None and OPENAI_KEY not in chosen.text
    assert (await admin_view(admin_worker, site))["provider_access"] == "not_approved"
    for worker in workers:
        answer = await worker.http.get(f"{worker.url}/api/v1/config/openai", headers=site.headers())
        assert answer.json()["api_key"] is None and OPENAI_KEY not in answer.text


async def test_an_admin_override_survives_a_plugin_write_from_a_stale_cached_site(workers):
    plugin_worker, admin_worker = workers
    site = await approved_and_cached(workers)
    await admin_put(admin_worker, site, "/config", {"model_article": "gpt-4o-mini"})

    chosen = await site.put("/config/provider", json={"provider": "openai"})

    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["model_article"] == "gpt-4o-mini"
    config = (await admin_view(admin_worker, site))["config"]
    assert config["model_article"] == "gpt-4o-mini" and config["provider"] == "openai"


class PluginLoop:
    """`PLUGIN_CLIENTS` plugin clients, each choosing its provider again and again until
    stopped; `reached(n)` waits for n choices in all, however the requests interleave."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.done = 0
        self.stopped = False
        self.progress = asyncio.Condition()
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> PluginLoop:
        self.tasks = [asyncio.create_task(self.client()) for _ in range(PLUGIN_CLIENTS)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stopped = True
        await asyncio.gather(*self.tasks)

    async def client(self) -> None:
        while not self.stopped:
            response = await self.site.put("/config/provider", json={"provider": "openai"})
            async with self.progress:
                if response.status_code != 200:
                    self.stopped = True  # and `reached` stops waiting for what will not come
                    self.progress.notify_all()
                assert response.status_code == 200, response.text
                self.done += 1
                self.progress.notify_all()

    async def reached(self, count: int) -> None:
        async with self.progress:
            await self.progress.wait_for(lambda: self.done >= count or self.stopped)
        assert not self.stopped, "a plugin client failed"


@pytest.mark.parametrize("round_", range(3))
async def test_admin_changes_during_a_plugin_write_loop_all_survive(workers, round_):
    """The issue's reproduction: 8 plugin clients loop `PUT /config/provider` on one worker
    while the admin revokes access and sets an override on another (the plugin's worker
    keeps its default cache check). It hits the window by load, not by construction: the
    mongomock shim, which runs its calls in turn, seldom hits it; the tests above always do."""
    plugin_worker, admin_worker = workers
    site = await plugin_worker.register()
    await admin_put(admin_worker, site, "/provider-access", {"approved": True})

    async with PluginLoop(site) as loop:
        await loop.reached(PLUGIN_CLIENTS)
        revoked = await admin_put(admin_worker, site, "/provider-access", {"approved": False})
        await admin_put(admin_worker, site, "/config", {"max_tokens": 1234})
        # Plugin writes before and after the admin's, from copies cached before and after.
        await loop.reached(loop.done + 4 * PLUGIN_CLIENTS)

    assert revoked["site"]["provider_access"] == "not_approved"
    view = await admin_view(admin_worker, site)
    assert view["provider_access"] == "not_approved"
    assert view["config"]["max_tokens"] == 1234 and view["config"]["provider"] == "openai"
    for worker in workers:
        answer = await worker.http.get(f"{worker.url}/api/v1/config/openai", headers=site.headers())
        assert answer.json()["api_key"] is None and OPENAI_KEY not in answer.text


async def test_a_change_of_access_is_told_once_whatever_copy_the_writers_hold(workers):
    """Whether the answer changed is read from the store's before and after: two revocations
    written from one copy of the approved site tell the plugin once."""
    plugin_worker, admin_worker = workers
    site = await approved_and_cached(workers)
    services = admin_worker.services
    stale = await services.store.get_site(site.site_id)

    for _ in range(2):
        await set_provider_access(services, stale, False)

    assert await told(services.store, site.site_id, "config_updated") == [
        {"scope": "provider_access", "approved": True},
        {"scope": "provider_access", "approved": False},
    ]


PROVIDER_CHANGES = [
    {"api_key": OPENAI_KEY},
    {"base_url": "https://llm.example.test/v1"},
    {"model_article": "gpt-4o-mini"},
    {"model_image": "dall-e-3"},
    {"model_rewrite": "gpt-4o-mini"},
    {"max_tokens": 1234},
    {"temperature": 0.5},
]
STRIPE_CHANGES = [{"public_key": "pk_test_race"}, {"currency": "usd"}, {"test_mode": True}]


@pytest.mark.parametrize(
    "path, changes, setting, expected",
    [
        (
            "providers/novita",
            PROVIDER_CHANGES,
            "provider:novita",
            {k: v for change in PROVIDER_CHANGES for k, v in change.items()},
        ),
        (
            "stripe",
            STRIPE_CHANGES,
            "stripe",
            {"public_key": "pk_test_race", "currency": "USD", "test_mode": True},
        ),
    ],
    ids=["provider", "stripe"],
)
async def test_concurrent_admin_changes_of_settings_all_land(
    workers, path, changes, setting, expected
):
    await asyncio.gather(
        *(
            workers[i % 2].http.put(
                f"{workers[i % 2].url}/api/v1/admin/config/{path}",
                json=change,
                headers=workers[i % 2].admin_headers(),
            )
            for i, change in enumerate(changes)
        )
    )
    assert await workers[0].store.get_setting(setting) == expected
