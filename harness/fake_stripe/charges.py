"""Charges: made when an intent succeeds; refunds.py and disputes.py move their money back."""

from __future__ import annotations

from typing import Any

from . import defaults, objects
from .errors import invalid_request
from .resources import CHARGE
from .state import StripeState


def create_charge(
    state: StripeState,
    intent: dict[str, Any],
    payment_method: str,
    *,
    captured: bool = True,
    status: str = "succeeded",
) -> dict[str, Any]:
    """A charge for the intent's whole amount, carrying the intent's metadata: captured and
    succeeded, or only authorized (`captured=False`), `pending` (a debit) or `failed`."""
    charge = state.put(
        objects.base(
            CHARGE,
            amount=intent["amount"],
            amount_captured=intent["amount"] if captured and status == "succeeded" else 0,
            amount_refunded=0,
            balance_transaction=None,
            billing_details={"email": intent.get("receipt_email"), "name": None},
            captured=captured and status == "succeeded",
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
            paid=status == "succeeded",
            payment_intent=intent["id"],
            payment_method=payment_method,
            payment_method_details=defaults.charge_card_details(payment_method),
            receipt_email=intent.get("receipt_email"),
            refunded=False,
            shipping=intent.get("shipping"),
            status=status,
        )
    )
    return charge


def fail_charge(state: StripeState, charge: dict[str, Any], code: str, message: str) -> None:
    """The charge was declined (or its debit failed): nothing captured, nothing paid."""
    charge.update(
        status="failed",
        captured=False,
        amount_captured=0,
        paid=False,
        failure_code=code,
        failure_message=message,
        outcome={
            "network_status": "declined_by_network",
            "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined",
        },
    )
    state.put(charge)


def charge_of_intent(state: StripeState, intent: dict[str, Any]) -> dict[str, Any]:
    """The successful charge behind an intent, or a 400 if it has none."""
    if intent["status"] != "succeeded" or not intent.get("latest_charge"):
        raise invalid_request(
            f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
            param="payment_intent",
            code="charge_not_refundable",
        )
    return state.get(CHARGE, intent["latest_charge"])
