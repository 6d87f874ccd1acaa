"""pytest fixtures for projects that test against the harness (the `rakubun_harness` plugin).

Installing `rakubun-dashboard` registers this module through the `pytest11` entry point, so
it loads in every pytest run: it imports only pytest here, and nothing starts unless a test
asks for one of its fixtures (none is autouse).

    async def test_a_purchase(rakubun_plugin, rakubun_stripe):
        status, body = await rakubun_plugin.call("checkout")
        await rakubun_stripe.pay(body["session_id"])

Fixtures (function scope; each test gets its own `rakubun-harness up` on a temp data dir):
`rakubun_harness` (a `harness.testing.HarnessProcess`, stopped at teardown, which must exit
0), `rakubun_urls` (`HarnessUrls`: api, stripe, plugin, docs), `rakubun_plugin` (the
simulated WordPress plugin, a `harness.client.SimulatorClient`: `call`, `register`,
`webhooks`), `rakubun_stripe` (the fake Stripe's control API, a
`harness.client.FakeStripeClient`: `pay`, `drain`, `faults`, `deliveries`, `resend`, ...). Override
`rakubun_harness_options` to pass `up` options (e.g. `["--mongodb-url", url]`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# The async fixtures need an asyncio runner; pytest-asyncio marks them in strict mode. This
# plugin loads in every pytest run where the package is installed, so a missing
# pytest-asyncio must not break the import: pytest then reports the async fixtures as
# unsupported when a test asks for one.
async_fixture: Callable[..., Any]
try:
    import pytest_asyncio

    async_fixture = pytest_asyncio.fixture
except ImportError:  # pragma: no cover
    async_fixture = pytest.fixture

if TYPE_CHECKING:
    from harness.client import FakeStripeClient, SimulatorClient
    from harness.testing import HarnessProcess, HarnessUrls


@pytest.fixture
def rakubun_harness_options() -> list[str]:
    """Extra `rakubun-harness up` options for `rakubun_harness` (override to set them)."""
    return []


@async_fixture
async def rakubun_harness(
    tmp_path: Path, rakubun_harness_options: list[str]
) -> AsyncIterator[HarnessProcess]:
    """A running `rakubun-harness up` on a fresh data dir; stopped at teardown, which must
    exit cleanly."""
    from harness.testing import HarnessProcess

    up = await HarnessProcess.start(tmp_path / "harness", *rakubun_harness_options)
    try:
        yield up
    finally:
        status = await up.stop()
    assert status == 0, up.output


@pytest.fixture
def rakubun_urls(rakubun_harness: HarnessProcess) -> HarnessUrls:
    """Where the harness listens: `api`, `api_base`, `docs`, `stripe`, `plugin`."""
    return rakubun_harness.urls


@pytest.fixture
def rakubun_plugin(rakubun_harness: HarnessProcess) -> SimulatorClient:
    """The WordPress plugin on the harness's simulator (its calls and received webhooks)."""
    return rakubun_harness.plugin


@pytest.fixture
def rakubun_stripe(rakubun_harness: HarnessProcess) -> FakeStripeClient:
    """The fake Stripe's control API: pay sessions, inject faults, drain, resend events."""
    return rakubun_harness.stripe
