"""The payment world (`tests/support/stripe.py`): a fake Stripe on 127.0.0.1 the real SDK
talks to, a service pointed at it, and a WordPress plugin simulator that receives the
service's webhooks."""

from __future__ import annotations

import pytest

from tests.support.fixtures import fake_stripe, make_world  # noqa: F401 - fixtures by name
from tests.support.stripe import StripeWorld


@pytest.fixture
async def world(make_world) -> StripeWorld:  # noqa: F811 - the imported fixture, by name
    return await make_world()
