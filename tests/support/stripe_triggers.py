"""What the fake Stripe sends for each of the Stripe CLI's payment triggers, in order, as Stripe
sends it: `contracts/test_stripe_cli.py` (the official CLI) and
`tests/harness/test_fake_stripe_triggers.py` (the same fixture files, in process) check it.
"""

from __future__ import annotations

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
