"""Refunds: part or all of a charge's money back; emits charge.refunded."""

from __future__ import annotations

from typing import Any

from . import objects, payment_methods
from .errors import invalid_request
from .money import format_amount
from .resources import CHARGE, REFUND
from .state import StripeState

REFUND_FAILURE = "expired_or_canceled_card"


def refund_charge(
    state: StripeState,
    charge: dict[str, Any],
    amount: int | None = None,
    *,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Refund `amount` (default: the rest) of a charge; emit charge.refunded with the charge.

    A disputed (charged back) charge is refused with Stripe's `charge_disputed`: its money
    is the card network's until the dispute is settled.
    """
    if charge.get("disputed"):
        raise invalid_request(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
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
    refund = state.put(
        objects.base(
            REFUND,
            amount=amount,
            charge=charge["id"],
            currency=charge["currency"],
            metadata=metadata or {},
            payment_intent=charge["payment_intent"],
            payment_method=charge.get("payment_method"),
            reason=reason,
            status="succeeded",
        )
    )
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    state.put(charge)
    state.emit("charge.refunded", charge)
    if payment_methods.behaviour(state, charge["payment_method"]).refund_fails:
        fail_refund(state, refund)
    return refund


def update_refund(
    state: StripeState, refund: dict[str, Any], metadata: dict[str, str]
) -> dict[str, Any]:
    """Merge metadata into a refund (`""` deletes a key); emits charge.refund.updated and
    refund.updated."""
    merged = {**refund["metadata"], **metadata}
    refund["metadata"] = {k: v for k, v in merged.items() if v != ""}
    state.put(refund)
    state.emit("charge.refund.updated", refund)
    state.emit("refund.updated", refund)
    return refund


def fail_refund(state: StripeState, refund: dict[str, Any]) -> dict[str, Any]:
    """The refund could not reach the card (`pm_card_refundFail`): its money goes back to the
    charge's unrefunded amount. Emits charge.refund.updated and refund.updated (status failed)."""
    if refund["status"] not in ("pending", "succeeded"):
        raise invalid_request(
            f"Refund {refund['id']} has a status of {refund['status']}; it cannot fail.",
            code="refund_not_pending",
        )
    charge = state.get(CHARGE, refund["charge"])
    charge["amount_refunded"] -= refund["amount"]
    charge["refunded"] = False
    state.put(charge)
    refund.update(status="failed", failure_reason=REFUND_FAILURE)
    state.put(refund)
    state.emit("charge.refund.updated", refund)
    state.emit("refund.updated", refund)
    return refund
