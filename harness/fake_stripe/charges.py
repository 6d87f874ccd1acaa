"""Charges: made when an intent succeeds; refunds.py and disputes.py move their money back."""

from __future__ import annotations

from typing import Any

from . import defaults, objects
from .errors import invalid_request
from .resources import CHARGE
from .state import StripeState


def create_charge(
    state: StripeState, intent: dict[str, Any], payment_method: str
) -> dict[str, Any]:
    """A captured charge for the intent's whole amount, carrying the intent's metadata."""
    return state.put(
        objects.base(
            CHARGE,
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
            payment_method_details=defaults.charge_card_details(payment_method),
            receipt_email=intent.get("receipt_email"),
            refunded=False,
            status="succeeded",
        )
    )


def charge_of_intent(state: StripeState, intent: dict[str, Any]) -> dict[str, Any]:
    """The successful charge behind an intent, or a 400 if it has none."""
    if intent["status"] != "succeeded" or not intent.get("latest_charge"):
        raise invalid_request(
            f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
            param="payment_intent",
            code="charge_not_refundable",
        )
    return state.get(CHARGE, intent["latest_charge"])
