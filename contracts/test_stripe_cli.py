"""The official Stripe CLI's payment triggers against the fake Stripe of `rakubun-harness up`.

`stripe trigger EVENT` runs Stripe's own fixture files (API calls real Stripe answers); each
must succeed against the fake, the fake must emit EVENT (and the events Stripe sends with it),
every event must reach the service and be acknowledged, and the service's reconcile stays ok.
The triggers run one after another on one `rakubun-harness up` per worker, as a developer runs
them; each is judged by the deliveries it added. The CLI comes from npm
(`contracts/stripe_cli.py`); without npm these tests skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from contracts import stripe_cli
from harness.testing import HarnessProcess
from tests.support.stripe_triggers import EMITTED


def test_every_payment_trigger_has_its_events() -> None:
    assert sorted(EMITTED) == sorted(stripe_cli.PAYMENT_EVENTS)


@pytest.fixture(scope="session")
def stripe_binary() -> Path:
    """The official CLI's binary (installed once into the tools cache)."""
    found = stripe_cli.install()
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[HarnessProcess]:
    """One `rakubun-harness up` for the triggers (starting one is most of a trigger's time);
    stopped at the end, which must exit cleanly."""
    up = await HarnessProcess.start(tmp_path_factory.mktemp("stripe-cli") / "harness")
    try:
        yield up
    finally:
        status = await up.stop()
    assert status == 0, up.output


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("event", stripe_cli.PAYMENT_EVENTS)
async def test_stripe_cli_trigger_reaches_the_service(
    event: str, stripe_binary: Path, harness: HarnessProcess, tmp_path: Path
) -> None:
    await harness.stripe.drain()
    before = len(await harness.stripe.deliveries())
    stripe_cli.trigger(
        stripe_binary,
        event,
        harness.settings["stripe_secret_key"],
        harness.stripe_url,
        tmp_path / "cli-home",
    )
    await harness.stripe.drain()
    attempts = (await harness.stripe.deliveries())[before:]
    emitted = tuple(dict.fromkeys((a["event_id"], a["type"]) for a in attempts))
    assert tuple(kind for _, kind in emitted) == EMITTED[event]
    refused = [a for a in attempts if not 200 <= (a["status_code"] or 0) < 300]
    assert not refused, refused
    assert (await harness.admin.reconcile())["ok"]
