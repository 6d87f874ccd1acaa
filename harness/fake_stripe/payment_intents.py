"""PaymentIntents: created, confirmed with test cards, authenticated, paid, declined, canceled."""

from __future__ import annotations

from typing import Any

from . import charges, defaults, objects
from .errors import StripeError, invalid_request, unexpected_state
from .payment_methods import GENERIC_DECLINE, Authentication, Decline, outcome_of
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
        outcome_of(state, payment_method)  # an unknown PaymentMethod is Stripe's 400
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


def confirm_intent(
    state: StripeState,
    intent: dict[str, Any],
    payment_method: str | None = None,
    *,
    return_url: str | None = None,
    base_url: str = "",
) -> dict[str, Any]:
    """Confirm with a test card: succeed, ask for 3-D Secure, or record the decline and raise 402.

    A card that needs authentication leaves the intent `requires_action`, its `next_action`
    pointing at the fake's authentication page under `base_url` (see `stripe_js.py`).
    """
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
    outcome = outcome_of(state, payment_method)
    if outcome is None:
        return succeed_intent(state, intent, payment_method)
    if isinstance(outcome, Authentication):
        return require_action(state, intent, payment_method, return_url, base_url)
    decline_intent(state, intent, payment_method, outcome)
    raise card_error(intent, outcome)


def authentication_url(intent: dict[str, Any], base_url: str) -> str:
    """The fake's 3-D Secure page for an intent (the client_secret authorizes it)."""
    return f"{base_url}/v3/authenticate/{intent['id']}?client_secret={intent['client_secret']}"


def require_action(
    state: StripeState,
    intent: dict[str, Any],
    payment_method: str,
    return_url: str | None,
    base_url: str,
) -> dict[str, Any]:
    """Hold the intent until the customer authenticates; emit payment_intent.requires_action.

    With a `return_url` the customer is sent to the page (`redirect_to_url`) and back;
    without one Stripe.js opens it itself (`use_stripe_sdk`), as Stripe answers.
    """
    url = authentication_url(intent, base_url)
    if return_url:
        next_action: dict[str, Any] = {
            "type": "redirect_to_url",
            "redirect_to_url": {"url": url, "return_url": return_url},
        }
    else:
        next_action = {
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {
                "type": "three_d_secure_redirect",
                "stripe_js": url,
                "source": payment_method,
            },
        }
    intent.update(
        status="requires_action",
        payment_method=payment_method,
        next_action=next_action,
        last_payment_error=None,
    )
    state.put(intent)
    state.emit("payment_intent.requires_action", intent)
    return intent


AUTHENTICATION_FAILED = (
    "The provided PaymentMethod has failed authentication. You can provide "
    "payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)


def finish_authentication(
    state: StripeState, intent: dict[str, Any], *, authenticated: bool
) -> dict[str, Any]:
    """The customer completed or failed 3-D Secure: the intent succeeds or wants a new card."""
    if intent["status"] != "requires_action":
        raise unexpected_state(
            f"This PaymentIntent has a status of {intent['status']}; "
            "only one that requires_action can be authenticated."
        )
    if authenticated:
        return succeed_intent(state, intent, intent["payment_method"])
    payment_method = intent["payment_method"]
    intent.update(
        status="requires_payment_method",
        payment_method=None,
        next_action=None,
        last_payment_error={
            "type": "invalid_request_error",
            "code": "payment_intent_authentication_failure",
            "message": AUTHENTICATION_FAILED,
            "payment_method": {"id": payment_method, "object": "payment_method", "type": "card"},
        },
    )
    state.put(intent)
    state.emit("payment_intent.payment_failed", intent)
    return intent


def check_client_secret(intent: dict[str, Any], client_secret: str | None) -> None:
    """Stripe's 400 unless `client_secret` is the intent's own (Stripe.js sends it)."""
    if not client_secret:
        raise invalid_request("Missing required param: client_secret.", param="client_secret")
    if client_secret != intent["client_secret"]:
        raise invalid_request(
            "The client_secret provided does not match the client_secret associated with "
            "the PaymentIntent.",
            param="client_secret",
        )


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
        next_action=None,
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
        next_action=None,
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
