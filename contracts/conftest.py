"""Fixtures of the contract suites.

Stripe contract: `stripe_world`, the service in-process (`make_service`, from tests/support/)
with a fake Stripe and a registered site; helpers live in contracts/stripe_world.py.

Schemathesis: `schema_service`, the service the schemathesis suites fuzz (the real app on
127.0.0.1 in a thread, temp SQLite, Stripe pointed at a fake Stripe, admin token set, rate
limit out of the way; contracts/support.py). It starts once, when a schemathesis suite
module is imported (schemathesis builds cases with their auth while pytest collects), and
stops when the session ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contracts.stripe_world import StripeEventWorld, new_fake_stripe, stripe_settings
from contracts.support import SCHEMA_TARGET
from tests.support.fixtures import make_service  # noqa: F401 - the in-process service fixture
from tests.support.service import ServiceThread


@pytest.fixture
async def stripe_world(make_service, tmp_path: Path) -> AsyncIterator[StripeEventWorld]:  # noqa: F811
    """The service with its webhook secret set, a fake Stripe, and a registered site."""
    fake = new_fake_stripe(tmp_path / "fake-stripe")
    await fake.start()
    try:
        service = await make_service(**stripe_settings(fake))
        yield StripeEventWorld(service, fake, await service.register())
    finally:
        await fake.stop()


@pytest.fixture(scope="session")
def schema_service() -> ServiceThread:
    """The service under schemathesis (`SCHEMA_TARGET.stripe` is its fake Stripe)."""
    return SCHEMA_TARGET.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    SCHEMA_TARGET.stop()
