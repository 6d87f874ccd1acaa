"""Charges: made when an intent succeeds, then refunded or disputed."""

from __future__ import annotations

from typing import Any

from . import objects
from .errors import invalid_request
from .money import format_amount
from .state import Store


def create_charge(store: Store, intent: dict[str, Any], payment_method: str) -> dict[str, Any]:
    """A captured charge for the intent's whole amount, carrying the intent's metadata."""
    return store.put(
        objects.base(
            "charge",
            "ch",
            amount=intent["amount"],
            amount_captured=intent["amount"],
            amount_refunded=0,
            balance_transaction=None,
            billing_details={"email": intent.get("receipt_email"), "name": None},
            captured=True,
            currency=intent["currency"],
            description=intent.get("description"),
            disputed=False,
            failure_code=None,
            failure_message=None,
            metadata=dict(intent["metadata"]),
            outcome={
                "network_status": "approved_by_network",
                "seller_message": "Payment complete.",
                "type": "authorized",
            },
            paid=True,
            payment_intent=intent["id"],
            payment_method=payment_method,
            receipt_email=intent.get("receipt_email"),
            refunded=False,
            status="succeeded",
        )
    )


def charge_of_intent(store: Store, intent: dict[str, Any]) -> dict[str, Any]:
    """The successful charge behind an intent, or a 400 if it has none."""
    if intent["status"] != "succeeded" or not intent.get("latest_charge"):
        raise invalid_request(
            f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
            param="payment_intent",
            code="charge_not_refundable",
        )
    return store.get("charge", intent["latest_charge"])


def refund_charge(
    store: Store,
    charge: dict[str, Any],
    amount: int | None = None,
    *,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Refund `amount` (default: the rest) of a charge; emit charge.refunded with the charge."""
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = remaining if amount is None else amount
    if amount < 1:
        raise invalid_request("Invalid positive integer", param="amount")
    if amount > remaining:
        currency = charge["currency"]
        raise invalid_request(
            f"Refund amount ({format_amount(amount, currency)}) is greater than unrefunded "
            f"amount on charge ({format_amount(remaining, currency)})",
            param="amount",
            code="amount_too_large",
        )
    refund = store.put(
        objects.base(
            "refund",
            "re",
            amount=amount,
            charge=charge["id"],
            currency=charge["currency"],
            metadata=metadata or {},
            payment_intent=charge["payment_intent"],
            reason=reason,
            status="succeeded",
        )
    )
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    store.put(charge)
    store.emit("charge.refunded", charge)
    return refund


DISPUTE_OUTCOMES = ("won", "lost")


def dispute_charge(store: Store, charge: dict[str, Any], amount: int | None = None
                   ) -> dict[str, Any]:
    """Open a fraud dispute for `amount` (default: what is not refunded yet), as Stripe does
    for a card dispute: the funds are withdrawn at once. Emits charge.dispute.created, then
    charge.dispute.funds_withdrawn."""
    remaining = charge["amount"] - charge["amount_refunded"]
    amount = remaining if amount is None else amount
    if amount < 1 or amount > charge["amount"]:
        raise invalid_request("Invalid dispute amount", param="amount")
    dispute = store.put(
        objects.base(
            "dispute",
            "dp",
            amount=amount,
            balance_transactions=[],
            charge=charge["id"],
            currency=charge["currency"],
            evidence_details={
                "due_by": objects.now() + 7 * 24 * 3600,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            is_charge_refundable=False,
            metadata={},
            payment_intent=charge["payment_intent"],
            reason="fraudulent",
            status="needs_response",
        )
    )
    charge["disputed"] = True
    store.put(charge)
    store.emit("charge.dispute.created", dispute)
    store.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def close_dispute(store: Store, dispute: dict[str, Any], outcome: str) -> dict[str, Any]:
    """Close an open dispute as the card network decided. Won: the funds come back
    (charge.dispute.funds_reinstated, then charge.dispute.closed); lost: charge.dispute.closed."""
    if outcome not in DISPUTE_OUTCOMES:
        raise invalid_request("outcome must be won or lost", param="outcome")
    if dispute["status"] not in ("needs_response", "under_review"):
        raise invalid_request(
            f"Dispute {dispute['id']} is already closed ({dispute['status']}).",
            code="dispute_already_closed",
        )
    dispute["status"] = outcome
    store.put(dispute)
    if outcome == "won":
        store.emit("charge.dispute.funds_reinstated", dispute)
    store.emit("charge.dispute.closed", dispute)
    return dispute
