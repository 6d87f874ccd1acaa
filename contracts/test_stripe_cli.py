"""The official Stripe CLI's payment triggers against the fake Stripe of `rakubun-harness up`.

`stripe trigger EVENT` runs Stripe's own fixture files (API calls real Stripe answers); each
must succeed against the fake, the fake must emit EVENT (and the events Stripe sends with it),
every event must reach the service and be acknowledged, and the service's reconcile stays ok.
The CLI comes from npm (`contracts/stripe_cli.py`); without npm these tests skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

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


@pytest.mark.parametrize("event", stripe_cli.PAYMENT_EVENTS)
async def test_stripe_cli_trigger_reaches_the_service(
    event: str, stripe_binary: Path, rakubun_harness: HarnessProcess, tmp_path: Path
) -> None:
    harness = rakubun_harness
    stripe_cli.trigger(
        stripe_binary,
        event,
        harness.settings["stripe_secret_key"],
        harness.stripe_url,
        tmp_path / "cli-home",
    )
    await harness.stripe.drain()
    attempts = await harness.stripe.deliveries()
    emitted = tuple(dict.fromkeys((a["event_id"], a["type"]) for a in attempts))
    assert tuple(kind for _, kind in emitted) == EMITTED[event]
    refused = [a for a in attempts if not 200 <= (a["status_code"] or 0) < 300]
    assert not refused, refused
    assert (await harness.admin.reconcile())["ok"]
