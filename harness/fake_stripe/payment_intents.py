"""PaymentIntents: created, confirmed with test cards, succeeded, declined or canceled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import charges, defaults, objects
from .errors import StripeError, invalid_request, unexpected_state
from .resources import PAYMENT_INTENT
from .state import StripeState

CONFIRMABLE = ("requires_confirmation", "requires_payment_method", "requires_action")
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)


@dataclass(frozen=True)
class Decline:
    """How a test card fails: Stripe's error code, decline code and message."""

    code: str
    decline_code: str
    message: str


GENERIC_DECLINE = Decline("card_declined", "generic_decline", "Your card was declined.")

# Stripe's test PaymentMethods: None succeeds, a Decline fails like the real test card.
TEST_PAYMENT_METHODS: dict[str, Decline | None] = {
    "pm_card_visa": None,
    "pm_card_mastercard": None,
    "pm_card_amex": None,
    "pm_card_jcb": None,
    "pm_card_chargeDeclined": GENERIC_DECLINE,
    "pm_card_visa_chargeDeclined": GENERIC_DECLINE,
    "pm_card_chargeDeclinedInsufficientFunds": Decline(
        "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "pm_card_chargeDeclinedExpiredCard": Decline(
        "expired_card", "expired_card", "Your card has expired."
    ),
}


def create_intent(
    state: StripeState,
    *,
    amount: int,
    currency: str,
    metadata: dict[str, str] | None = None,
    payment_method: str | None = None,
    description: str | None = None,
    receipt_email: str | None = None,
    automatic_payment_methods: bool = False,
) -> dict[str, Any]:
    """Create a PaymentIntent awaiting a payment method or confirmation."""
    if amount < 1:
        raise invalid_request("This value must be greater than or equal to 1.", param="amount")
    if payment_method is not None:
        check_payment_method(payment_method)
    intent = objects.base(
        PAYMENT_INTENT,
        amount=amount,
        amount_capturable=0,
        amount_received=0,
        automatic_payment_methods={"enabled": True} if automatic_payment_methods else None,
        canceled_at=None,
        cancellation_reason=None,
        capture_method="automatic_async",
        confirmation_method="automatic",
        currency=currency.lower(),
        customer=None,
        description=description,
        last_payment_error=None,
        latest_charge=None,
        metadata=metadata or {},
        next_action=None,
        payment_method=payment_method,
        payment_method_types=["card"],
        receipt_email=receipt_email,
        status="requires_confirmation" if payment_method else "requires_payment_method",
    )
    intent["client_secret"] = f"{intent['id']}_secret_{objects.random_token(25)}"
    return state.put(intent)


def check_payment_method(payment_method: str) -> None:
    """Reject PaymentMethods the fake does not know, as Stripe does for unknown ids."""
    if payment_method not in TEST_PAYMENT_METHODS:
        raise StripeError(
            400,
            f"No such PaymentMethod: '{payment_method}'",
            code="resource_missing",
            param="payment_method",
        )


def confirm_intent(
    state: StripeState, intent: dict[str, Any], payment_method: str | None = None
) -> dict[str, Any]:
    """Confirm with a test card: succeed, or record the decline and raise a 402 card error."""
    if intent["status"] not in CONFIRMABLE:
        raise unexpected_state(
            "You cannot confirm this PaymentIntent because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses "
            f"may be confirmed: {', '.join(CONFIRMABLE)}."
        )
    payment_method = payment_method or intent["payment_method"]
    if payment_method is None:
        raise invalid_request(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            param="payment_method",
            code="payment_intent_unexpected_state",
        )
    check_payment_method(payment_method)
    decline = TEST_PAYMENT_METHODS[payment_method]
    if decline is None:
        return succeed_intent(state, intent, payment_method)
    decline_intent(state, intent, payment_method, decline)
    raise card_error(intent, decline)


def succeed_intent(
    state: StripeState, intent: dict[str, Any], payment_method: str = "pm_card_visa"
) -> dict[str, Any]:
    """Capture the full amount in a new charge; emit payment_intent.succeeded and charge.succeeded."""
    if intent["status"] not in CONFIRMABLE:
        raise unexpected_state(f"This PaymentIntent has a status of {intent['status']}.")
    charge = charges.create_charge(state, intent, payment_method)
    intent.update(
        status="succeeded",
        amount_received=intent["amount"],
        latest_charge=charge["id"],
        payment_method=payment_method,
        last_payment_error=None,
    )
    state.put(intent)
    state.emit("payment_intent.succeeded", intent)
    state.emit("charge.succeeded", charge)
    return intent


def decline_intent(
    state: StripeState,
    intent: dict[str, Any],
    payment_method: str = "pm_card_chargeDeclined",
    decline: Decline = GENERIC_DECLINE,
) -> dict[str, Any]:
    """Record a declined attempt on the intent and emit payment_intent.payment_failed."""
    if intent["status"] not in CONFIRMABLE:
        raise unexpected_state(f"This PaymentIntent has a status of {intent['status']}.")
    intent.update(
        status="requires_payment_method",
        payment_method=None,
        last_payment_error={
            "type": "card_error",
            "code": decline.code,
            "decline_code": decline.decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
            "message": decline.message,
            "payment_method": defaults.payment_method(payment_method, objects.now()),
            "payment_method_type": "card",
        },
    )
    state.put(intent)
    state.emit("payment_intent.payment_failed", intent)
    return intent


def card_error(intent: dict[str, Any], decline: Decline) -> StripeError:
    """The HTTP 402 `card_error` Stripe answers a declined confirmation with."""
    return StripeError(
        402,
        decline.message,
        type="card_error",
        code=decline.code,
        extra={"decline_code": decline.decline_code, "payment_intent": intent},
    )


def cancel_intent(
    state: StripeState, intent: dict[str, Any], reason: str | None = None
) -> dict[str, Any]:
    """Cancel an unfinished intent and emit payment_intent.canceled."""
    if intent["status"] not in CANCELABLE:
        raise unexpected_state(
            "You cannot cancel this PaymentIntent because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses "
            f"may be canceled: {', '.join(CANCELABLE)}."
        )
    intent.update(status="canceled", canceled_at=objects.now(), cancellation_reason=reason)
    state.put(intent)
    state.emit("payment_intent.canceled", intent)
    return intent
