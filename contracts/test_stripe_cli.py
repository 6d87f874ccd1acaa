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

PI_SUCCEEDED = ("payment_intent.created", "payment_intent.succeeded", "charge.succeeded")
PAID_SESSION = ("checkout.session.completed", "payment_intent.succeeded", "charge.succeeded")
DEBIT = ("checkout.session.completed", "payment_intent.processing", "charge.pending")
HELD = ("payment_intent.created", "charge.succeeded", "payment_intent.amount_capturable_updated")
DECLINED = ("payment_intent.created", "payment_intent.payment_failed", "charge.failed")
# What the fake sends for each trigger, in order, as Stripe sends it (a session's
# PaymentIntent, made when it is paid, announces no payment_intent.created in the fake).
EMITTED = {
    "charge.captured": (*HELD, "charge.captured", "payment_intent.succeeded"),
    "charge.dispute.closed": (*PI_SUCCEEDED, "charge.dispute.created", "charge.dispute.closed"),
    "charge.dispute.created": (*PI_SUCCEEDED, "charge.dispute.created"),
    "charge.dispute.updated": (*PI_SUCCEEDED, "charge.dispute.created", "charge.dispute.updated"),
    "charge.failed": DECLINED,
    "charge.refund.updated": (
        *PI_SUCCEEDED,
        "charge.refunded",
        "charge.refund.updated",
        "refund.updated",
    ),
    "charge.refunded": (*PI_SUCCEEDED, "charge.refunded"),
    "charge.succeeded": PI_SUCCEEDED,
    "checkout.session.async_payment_failed": (
        *DEBIT,
        "payment_intent.payment_failed",
        "charge.failed",
        "checkout.session.async_payment_failed",
    ),
    "checkout.session.async_payment_succeeded": (
        *DEBIT,
        "payment_intent.succeeded",
        "charge.succeeded",
        "checkout.session.async_payment_succeeded",
    ),
    "checkout.session.completed": PAID_SESSION,
    "checkout.session.expired": ("checkout.session.expired",),
    "payment_intent.amount_capturable_updated": HELD,
    "payment_intent.canceled": ("payment_intent.created", "payment_intent.canceled"),
    "payment_intent.created": ("payment_intent.created",),
    "payment_intent.partially_funded": (
        "payment_intent.created",
        "payment_intent.requires_action",
        "payment_intent.partially_funded",
    ),
    "payment_intent.payment_failed": DECLINED,
    "payment_intent.processing": (
        "payment_intent.created",
        "payment_intent.processing",
        "charge.pending",
    ),
    "payment_intent.requires_action": ("payment_intent.created", "payment_intent.requires_action"),
    "payment_intent.succeeded": PI_SUCCEEDED,
}


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
    await harness.drain()
    attempts = await harness.deliveries()
    emitted = tuple(dict.fromkeys((a["event_id"], a["type"]) for a in attempts))
    assert tuple(kind for _, kind in emitted) == EMITTED[event]
    refused = [a for a in attempts if not 200 <= (a["status_code"] or 0) < 300]
    assert not refused, refused
    assert (await harness.reconcile())["ok"]
