"""Fixtures of the contract suites.

Stripe contract: `world`, the suites' one Stripe world (`tests/support/stripe.py`, the
fixture `tests/service/` uses too): the service in-process with a fake Stripe and a
registered site, the events signed and posted by the tests themselves (`world_options`).

Schemathesis: `schema_service`, the service the schemathesis suites fuzz (the real app on
127.0.0.1 in a thread, temp SQLite, Stripe pointed at a fake Stripe, admin token set, rate
limit out of the way; contracts/support.py). It starts once, when a schemathesis suite
module is imported (schemathesis builds cases with their auth while pytest collects), and
stops when the session ends.
"""

from __future__ import annotations

from typing import Any

import pytest

from contracts.support import SCHEMA_TARGET
from tests.support.fixtures import (  # noqa: F401 - fixtures by name
    fake_stripe,
    make_service,
    make_world,
    world,
)
from tests.support.service import ServiceThread


@pytest.fixture
def world_options() -> dict[str, Any]:
    """The contract's world: no event reaches the service but the recorded ones a test posts,
    and no plugin webhook leaves it."""
    return {"deliver_events": False, "wordpress": False, "webhook_dispatch": False}


@pytest.fixture(scope="session")
def schema_service() -> ServiceThread:
    """The service under schemathesis (`SCHEMA_TARGET.stripe` is its fake Stripe)."""
    return SCHEMA_TARGET.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    SCHEMA_TARGET.stop()
