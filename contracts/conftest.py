"""Fixtures of the contract suites.

Stripe contract: `stripe_world`, the service in-process (`make_service`, from tests/conftest.py)
with a fake Stripe and a registered site; helpers live in contracts/stripe_world.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contracts.stripe_world import StripeEventWorld, new_fake_stripe, stripe_settings
from tests.conftest import make_service  # noqa: F401 - the in-process service fixture


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
