"""PaymentIntents: created, confirmed with test cards, authenticated, paid, declined, canceled."""

from __future__ import annotations

from typing import Any

from . import charges, defaults, disputes, objects, payment_methods
from .errors import StripeError, invalid_request, unexpected_state
from .payment_methods import GENERIC_DECLINE, Behaviour, Decline
from .resources import CHARGE, CUSTOMER, PAYMENT_INTENT, PAYMENT_METHOD
from .state import StripeState

CONFIRMABLE = ("requires_confirmation", "requires_payment_method", "requires_action")
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)


CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
CONFIRMATION_METHODS = ("automatic", "manual")
# An intent's payment is under way: the control API's `succeed` settles it.
SETTLEABLE = (*CONFIRMABLE, "processing", "requires_capture")


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
    capture_method: str = "automatic_async",
    confirmation_method: str = "automatic",
    customer: str | None = None,
    shipping: dict[str, Any] | None = None,
    payment_method_types: list[str] | None = None,
    setup_future_usage: str | None = None,
) -> dict[str, Any]:
    """Create a PaymentIntent awaiting a payment method or confirmation."""
    if amount < 1:
        raise invalid_request("This value must be greater than or equal to 1.", param="amount")
    if capture_method not in CAPTURE_METHODS:
        raise invalid_request(f"Invalid capture_method: {capture_method}", param="capture_method")
    if confirmation_method not in CONFIRMATION_METHODS:
        raise invalid_request(
            f"Invalid confirmation_method: {confirmation_method}", param="confirmation_method"
        )
    if customer is not None:
        state.get(CUSTOMER, customer, param="customer")
    if payment_method is not None:
        payment_methods.behaviour(state, payment_method)
    intent = objects.base(
        PAYMENT_INTENT,
        amount=amount,
        amount_capturable=0,
        amount_received=0,
        automatic_payment_methods={"enabled": True} if automatic_payment_methods else None,
        canceled_at=None,
        cancellation_reason=None,
        capture_method=capture_method,
        confirmation_method=confirmation_method,
        currency=currency.lower(),
        customer=customer,
        description=description,
        last_payment_error=None,
        latest_charge=None,
        metadata=metadata or {},
        next_action=None,
        payment_method=payment_method,
        payment_method_types=payment_method_types or ["card"],
        receipt_email=receipt_email,
        setup_future_usage=setup_future_usage,
        shipping=shipping,
        status="requires_confirmation" if payment_method else "requires_payment_method",
    )
    intent["client_secret"] = f"{intent['id']}_secret_{objects.random_token(25)}"
    return state.put(intent)


def shipping_details(raw: Any) -> dict[str, Any] | None:
    """Stripe's `shipping` hash as the object shows it: every field present; `name` and
    `address[line1]` required."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("address"), dict):
        raise invalid_request("Missing required param: shipping[address].", param="shipping")
    if not raw.get("name"):
        raise invalid_request("Missing required param: shipping[name].", param="shipping[name]")
    address = raw["address"]
    return {
        "address": {
            k: address.get(k) for k in ("city", "country", "line1", "line2", "postal_code", "state")
        },
        "carrier": raw.get("carrier"),
        "name": raw["name"],
        "phone": raw.get("phone"),
        "tracking_number": raw.get("tracking_number"),
    }


def check_payment_method(state: StripeState, payment_method: str) -> Behaviour:
    """How a PaymentMethod behaves; Stripe's 400 for an id it does not know."""
    return payment_methods.behaviour(state, payment_method)


def confirm_intent(
    state: StripeState,
    intent: dict[str, Any],
    payment_method: str | None = None,
    *,
    return_url: str | None = None,
    base_url: str = "",
) -> dict[str, Any]:
    """Confirm with a test or stored PaymentMethod, as Stripe's test cards behave: succeed
    (or hold the funds, with `capture_method=manual`), ask for 3-D Secure, start a debit that
    settles later, wait for a bank transfer, or record the decline and raise a 402 card error.

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
    method = check_payment_method(state, payment_method)
    if method.type not in intent["payment_method_types"]:
        raise invalid_request(
            f"The PaymentMethod provided ({method.type}) is not allowed for this "
            f"PaymentIntent. Allowed: {', '.join(intent['payment_method_types'])}.",
            param="payment_method",
            code="payment_intent_incompatible_payment_method",
        )
    if method.decline is not None:
        decline_intent(state, intent, payment_method, method.decline)
        raise card_error(intent, method.decline)
    if method.type == "customer_balance":
        return _await_funding(state, intent, payment_method)
    if method.authentication:
        return require_action(state, intent, payment_method, return_url, base_url)
    if method.type == "sepa_debit":
        start_processing(state, intent, payment_method)
        return settle_debit(state, intent, method.settles)
    if intent["capture_method"] == "manual":
        return _authorize(state, intent, payment_method)
    succeed_intent(state, intent, payment_method)
    _after_charge(state, intent, method)
    return intent


def _after_charge(state: StripeState, intent: dict[str, Any], method: Behaviour) -> None:
    # The dispute test cards: the charge is disputed as soon as it succeeds.
    if method.then is None:
        return
    charge = state.get(CHARGE, intent["latest_charge"])
    if method.then == "dispute":
        disputes.dispute_charge(state, charge)
    else:
        disputes.open_inquiry(state, charge)


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
    """The customer completed or failed 3-D Secure: the intent succeeds (or, with
    `capture_method=manual`, holds the funds) or wants a new card."""
    if intent["status"] != "requires_action" or awaits_funding(intent):
        raise unexpected_state(
            f"This PaymentIntent has a status of {intent['status']}; "
            "only one that requires_action can be authenticated."
        )
    payment_method = intent["payment_method"]
    if authenticated:
        if intent["capture_method"] == "manual":
            return _authorize(state, intent, payment_method)
        return succeed_intent(state, intent, payment_method)
    intent.update(
        status="requires_payment_method",
        payment_method=None,
        next_action=None,
        last_payment_error={
            "type": "invalid_request_error",
            "code": "payment_intent_authentication_failure",
            "message": AUTHENTICATION_FAILED,
            "payment_method": _payment_method_object(state, payment_method),
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


def _await_funding(
    state: StripeState, intent: dict[str, Any], payment_method: str
) -> dict[str, Any]:
    """A bank transfer to the customer's cash balance will pay it; requires_action until then."""
    if intent.get("customer") is None:
        raise invalid_request(
            "A customer is required to use the customer_balance payment method.",
            param="customer",
        )
    intent.update(
        status="requires_action",
        payment_method=payment_method,
        next_action={
            "type": "display_bank_transfer_instructions",
            "display_bank_transfer_instructions": {
                "amount_remaining": intent["amount"],
                "currency": intent["currency"],
                "type": "jp_bank_transfer" if intent["currency"] == "jpy" else "us_bank_transfer",
                "reference": objects.random_token(8).upper(),
                "hosted_instructions_url": None,
                "financial_addresses": [],
            },
        },
    )
    state.put(intent)
    state.emit("payment_intent.requires_action", intent)
    return intent


def awaits_funding(intent: dict[str, Any]) -> bool:
    """Whether the intent waits for a bank transfer to its customer's cash balance."""
    action = intent.get("next_action") or {}
    return intent["status"] == "requires_action" and (
        action.get("type") == "display_bank_transfer_instructions"
    )


def apply_funds(state: StripeState, intent: dict[str, Any], available: int) -> int:
    """Apply up to `available` of a cash balance to a waiting intent; answers what it took.
    Emits payment_intent.partially_funded, or succeeds the intent when it is paid in full."""
    instructions = intent["next_action"]["display_bank_transfer_instructions"]
    taken = min(available, instructions["amount_remaining"])
    instructions["amount_remaining"] -= taken
    state.put(intent)
    if instructions["amount_remaining"] > 0:
        state.emit("payment_intent.partially_funded", intent)
    else:
        succeed_intent(state, intent, intent["payment_method"])
    return taken


def _authorize(state: StripeState, intent: dict[str, Any], payment_method: str) -> dict[str, Any]:
    """`capture_method=manual`: the card is authorized and the funds held until captured.
    Emits charge.succeeded (uncaptured), then payment_intent.amount_capturable_updated."""
    charge = charges.create_charge(state, intent, payment_method, captured=False)
    return _record_attempt(
        state,
        intent,
        charge,
        "requires_capture",
        payment_method,
        amount_capturable=intent["amount"],
    )


def capture_intent(
    state: StripeState, intent: dict[str, Any], amount: int | None = None
) -> dict[str, Any]:
    """Capture held funds (default: all); emits charge.captured, then payment_intent.succeeded."""
    if intent["status"] != "requires_capture":
        raise unexpected_state(
            "This PaymentIntent could not be captured because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses "
            "may be captured: requires_capture."
        )
    amount = intent["amount_capturable"] if amount is None else amount
    if not 1 <= amount <= intent["amount_capturable"]:
        raise invalid_request(
            "The amount to capture must be positive and at most the amount capturable.",
            param="amount_to_capture",
        )
    charge = state.get(CHARGE, intent["latest_charge"])
    charge.update(captured=True, amount_captured=amount)
    state.put(charge)
    intent.update(status="succeeded", amount_capturable=0, amount_received=amount)
    state.put(intent)
    state.emit("charge.captured", charge)
    state.emit("payment_intent.succeeded", intent)
    return intent


def start_processing(
    state: StripeState, intent: dict[str, Any], payment_method: str
) -> dict[str, Any]:
    """A debit is submitted: the intent is processing and its charge pending until it settles.
    Emits payment_intent.processing, then charge.pending."""
    charge = charges.create_charge(state, intent, payment_method, status="pending")
    return _record_attempt(state, intent, charge, "processing", payment_method)


def settle_debit(state: StripeState, intent: dict[str, Any], outcome: str) -> dict[str, Any]:
    """End a processing debit as its test IBAN does: succeeded, failed, or still processing.

    The fake settles at once, in the confirming request (Stripe takes seconds to minutes), so
    its answer already shows the outcome and the events come in Stripe's order.
    """
    if outcome == "succeeded":
        return succeed_intent(state, intent, intent["payment_method"])
    if outcome == "failed":
        return decline_intent(state, intent, intent["payment_method"], DEBIT_FAILED)
    return intent


DEBIT_FAILED = Decline(
    "payment_intent_payment_attempt_failed", "generic_decline", "The payment failed."
)


def succeed_intent(
    state: StripeState, intent: dict[str, Any], payment_method: str = "pm_card_visa"
) -> dict[str, Any]:
    """Capture the full amount in a charge (the pending one of a debit, else a new one); emit
    payment_intent.succeeded and charge.succeeded."""
    if intent["status"] not in SETTLEABLE:
        raise unexpected_state(f"This PaymentIntent has a status of {intent['status']}.")
    if intent["status"] == "requires_capture":
        return capture_intent(state, intent)
    pending = state.find(CHARGE, intent["latest_charge"]) if intent["latest_charge"] else None
    if pending is not None and pending["status"] == "pending":
        pending.update(
            status="succeeded", paid=True, captured=True, amount_captured=pending["amount"]
        )
        charge = state.put(pending)
    else:
        charge = charges.create_charge(state, intent, payment_method)
    return _record_attempt(
        state, intent, charge, "succeeded", payment_method, amount_received=intent["amount"]
    )


def decline_intent(
    state: StripeState,
    intent: dict[str, Any],
    payment_method: str = "pm_card_chargeDeclined",
    decline: Decline = GENERIC_DECLINE,
) -> dict[str, Any]:
    """Record a declined attempt: a failed charge, then the intent back to
    requires_payment_method. Emits payment_intent.payment_failed, then charge.failed."""
    if intent["status"] not in (*CONFIRMABLE, "processing"):
        raise unexpected_state(f"This PaymentIntent has a status of {intent['status']}.")
    pending = state.find(CHARGE, intent["latest_charge"]) if intent["latest_charge"] else None
    if pending is not None and pending["status"] == "pending":
        charge = pending
    else:
        charge = charges.create_charge(state, intent, payment_method, status="failed")
    charges.fail_charge(state, charge, decline.code, decline.message)
    return _record_attempt(
        state,
        intent,
        charge,
        "requires_payment_method",
        None,
        last_payment_error={
            "type": "card_error",
            "charge": charge["id"],
            "code": decline.code,
            "decline_code": decline.decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
            "message": decline.message,
            "payment_method": _payment_method_object(state, payment_method),
            "payment_method_type": "card",
        },
    )


# The status a payment attempt leaves its intent in -> the events it sends, in Stripe's order.
ATTEMPT_EVENTS: dict[str, tuple[str, ...]] = {
    "requires_capture": ("charge.succeeded", "payment_intent.amount_capturable_updated"),
    "processing": ("payment_intent.processing", "charge.pending"),
    "succeeded": ("payment_intent.succeeded", "charge.succeeded"),
    "requires_payment_method": ("payment_intent.payment_failed", "charge.failed"),
}


def _record_attempt(
    state: StripeState,
    intent: dict[str, Any],
    charge: dict[str, Any],
    status: str,
    payment_method: str | None,
    *,
    last_payment_error: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Leave the intent in `status` after an attempt with this charge and payment method, store
    it, and emit the status's events, each about the charge (`charge.*`) or the intent."""
    intent.update(
        status=status,
        latest_charge=charge["id"],
        payment_method=payment_method,
        last_payment_error=last_payment_error,
        next_action=None,
        **fields,
    )
    state.put(intent)
    for event in ATTEMPT_EVENTS[status]:
        state.emit(event, charge if event.startswith("charge.") else intent)
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


def _payment_method_object(state: StripeState, payment_method: str) -> dict[str, Any]:
    """The PaymentMethod a payment error shows: the stored one, else Stripe's test card's."""
    stored = state.find(PAYMENT_METHOD, payment_method)
    return dict(stored) if stored else defaults.payment_method(payment_method, objects.now())
