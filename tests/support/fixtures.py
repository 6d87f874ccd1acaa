"""The fixtures both `tests/` and `contracts/` use; their conftests import them by name."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from harness.fake_stripe import FakeStripe
from harness.plugin_sim import PluginSimulator
from tests.support.service import RunningService, Site, start_service
from tests.support.stripe import (
    STRIPE_KEY,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    StripeWorld,
    stripe_settings,
)

# Services the suites start as processes (`rakubun-harness up`, `rakubun-service`) inherit it:
# whatever site URL a test or a fuzzer registers, no webhook leaves the machine.
os.environ.setdefault("WEBHOOK_LOOPBACK_ONLY", "1")


@pytest.fixture
async def make_service(tmp_path: Path):
    """Start services on real sockets; every one started is stopped at teardown. Keyword
    arguments override settings, or give the `contract` to bind instead of `openapi.yaml`."""
    started: list[RunningService] = []

    async def start(**overrides: Any) -> RunningService:
        running = await start_service(tmp_path, **overrides)
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        await running.http.aclose()
        await running.stop()


@pytest.fixture
async def service(make_service) -> AsyncIterator[RunningService]:
    yield await make_service()


@pytest.fixture
async def site(service: RunningService) -> Site:
    return await service.register()


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    """A started fake Stripe that accepts the key `stripe_settings` gives the service."""
    fake = FakeStripe(secret_key=STRIPE_KEY, retry_delays=(0.05, 0.1))
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def make_world(make_service, fake_stripe: FakeStripe):
    """Build a StripeWorld; settings overrides go to the service (e.g. webhook_dispatch=False).

    `deliver_events`: the fake sends its events to the service (else a test signs and posts
    recorded ones); `wordpress`: the site is a plugin simulator that receives the service's
    webhooks (else a site at an address nothing listens on).
    """
    simulators: list[PluginSimulator] = []

    async def build(
        *, deliver_events: bool = True, wordpress: bool = True, **overrides: Any
    ) -> StripeWorld:
        service = await make_service(**{**stripe_settings(fake_stripe), **overrides})
        if deliver_events:
            fake_stripe.add_webhook_endpoint(service.url + WEBHOOK_PATH, secret=WEBHOOK_SECRET)
        if not wordpress:
            return StripeWorld(service, fake_stripe, None, await service.register())
        simulator = PluginSimulator(service.url)
        await simulator.start()
        simulators.append(simulator)
        site = await service.register(site_url=simulator.url)
        # The simulator verifies webhooks with the secret the plugin got at registration.
        simulator.options.webhook_secret = site.webhook_secret
        simulator.options.api_token = site.token
        simulator.options.instance_id = site.instance_id
        return StripeWorld(service, fake_stripe, simulator, site)

    yield build
    await fake_stripe.drain()
    for simulator in simulators:
        await simulator.stop()


@pytest.fixture
def world_options() -> dict[str, Any]:
    """How `world` is built (`make_world`'s arguments); a suite's conftest overrides it, as
    `contracts/` does to post the recorded events itself."""
    return {}


@pytest.fixture
async def world(make_world, world_options: dict[str, Any]) -> StripeWorld:
    """The one Stripe world of the grant, refund and dispute suites (`tests/support/stripe.py`):
    by default the fake delivers its events and the site is a plugin simulator."""
    return await make_world(**world_options)
