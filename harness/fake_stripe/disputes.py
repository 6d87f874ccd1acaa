"""Disputes: opened on a charge (funds withdrawn at once), then won or lost."""

from __future__ import annotations

from typing import Any

from . import defaults, objects
from .errors import invalid_request
from .resources import DISPUTE
from .state import StripeState

DISPUTE_OUTCOMES = ("won", "lost")
OPEN_INQUIRY = ("warning_needs_response", "warning_under_review")


def dispute_charge(
    state: StripeState,
    charge: dict[str, Any],
    amount: int | None = None,
    *,
    allow_refunded: bool = False,
) -> dict[str, Any]:
    """Open a fraud dispute for `amount` (default: what is not refunded yet), as Stripe does
    for a card dispute: the funds are withdrawn at once. Emits charge.dispute.created, then
    charge.dispute.funds_withdrawn. A charge is disputed at most once, and not once its
    money is all refunded: test mode cannot, as Stripe's dispute test cards dispute at payment.
    `allow_refunded` plays live mode, where a cardholder may dispute before the refund lands."""
    if charge.get("disputed"):
        raise invalid_request(
            f"Charge {charge['id']} has already been disputed.", code="charge_disputed"
        )
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0 and not allow_refunded:
        raise invalid_request(
            f"Charge {charge['id']} has been fully refunded; it cannot be disputed.",
            code="charge_already_refunded",
        )
    amount = remaining if amount is None else amount
    if amount < 1 or amount > charge["amount"]:
        raise invalid_request("Invalid dispute amount", param="amount")
    return _open_dispute(
        state,
        charge,
        amount,
        "needs_response",
        payment_method_details=defaults.dispute_card_details(charge.get("payment_method")),
    )


def open_inquiry(state: StripeState, charge: dict[str, Any]) -> dict[str, Any]:
    """Open an inquiry (a dispute that withdraws no funds yet), as the card
    `pm_card_createDisputeInquiry` does. Emits charge.dispute.created."""
    amount = charge["amount"] - charge["amount_refunded"]
    if amount < 1:
        raise invalid_request("Invalid dispute amount", param="amount")
    return _open_dispute(state, charge, amount, "warning_needs_response")


def _open_dispute(
    state: StripeState, charge: dict[str, Any], amount: int, status: str, **fields: Any
) -> dict[str, Any]:
    """Record a fraud dispute of `amount` in `status` and mark the charge disputed. Emits
    charge.dispute.created, then, unless it is an inquiry, charge.dispute.funds_withdrawn."""
    inquiry = status in OPEN_INQUIRY
    dispute = state.put(
        objects.base(
            DISPUTE,
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
            # An inquiry withdraws nothing yet, so the charge may still be refunded.
            is_charge_refundable=inquiry,
            metadata={},
            payment_intent=charge["payment_intent"],
            reason="fraudulent",
            status=status,
            **fields,
        )
    )
    charge["disputed"] = True
    state.put(charge)
    state.emit("charge.dispute.created", dispute)
    if not inquiry:
        state.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def update_dispute(
    state: StripeState, dispute: dict[str, Any], metadata: dict[str, str]
) -> dict[str, Any]:
    """Merge metadata into an open dispute (`""` deletes a key); emits charge.dispute.updated."""
    if dispute["status"] not in (*OPEN_INQUIRY, "needs_response", "under_review"):
        raise invalid_request(
            f"Dispute {dispute['id']} is already closed ({dispute['status']}).",
            code="dispute_already_closed",
        )
    merged = {**dispute["metadata"], **metadata}
    dispute["metadata"] = {k: v for k, v in merged.items() if v != ""}
    state.put(dispute)
    state.emit("charge.dispute.updated", dispute)
    return dispute


def accept_dispute(state: StripeState, dispute: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/disputes/{id}/close`: the merchant accepts. An inquiry closes
    (`warning_closed`), a dispute is lost. Emits charge.dispute.closed."""
    if dispute["status"] in OPEN_INQUIRY:
        dispute["status"] = "warning_closed"
        state.put(dispute)
        state.emit("charge.dispute.closed", dispute)
        return dispute
    return close_dispute(state, dispute, "lost")


def close_dispute(state: StripeState, dispute: dict[str, Any], outcome: str) -> dict[str, Any]:
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
    state.put(dispute)
    if outcome == "won":
        state.emit("charge.dispute.funds_reinstated", dispute)
    state.emit("charge.dispute.closed", dispute)
    return dispute
