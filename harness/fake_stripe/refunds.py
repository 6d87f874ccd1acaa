"""Refunds: part or all of a charge's money back; emits charge.refunded."""

from __future__ import annotations

from typing import Any

from . import objects
from .errors import invalid_request
from .money import format_amount
from .resources import REFUND
from .state import StripeState


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
    return refund
