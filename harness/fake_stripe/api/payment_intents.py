"""`/v1/payment_intents`: create, confirm, capture, cancel (retrieve and list: `reads.py`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import payment_intents, payment_methods
from ..context import FakeContext
from ..errors import invalid_request
from ..forms import get_bool, get_int, get_list, get_metadata, get_str
from ..resources import PAYMENT_INTENT
from ..state import StripeState
from .writes import Obj, Params, acts_on, creates

RESOURCE = PAYMENT_INTENT
routes = web.RouteTableDef()

CREATE_PARAMS = (
    "amount",
    "currency",
    "metadata",
    "payment_method",
    "confirm",
    "automatic_payment_methods",
    "description",
    "receipt_email",
    "payment_method_types",
    "capture_method",
    "confirmation_method",
    "shipping",
    "return_url",
    "customer",
    "payment_method_data",
    "payment_method_options",
    "mandate_data",
    "setup_future_usage",
    "statement_descriptor",
    "statement_descriptor_suffix",
)
# Stripe.js confirms with the publishable `key` and the intent's `client_secret`.
CONFIRM_PARAMS = (
    "payment_method",
    "receipt_email",
    "return_url",
    "payment_method_data",
    "payment_method_options",
    "mandate_data",
    "shipping",
    "client_secret",
    "key",
)


def _payment_method(state: StripeState, params: dict[str, Any], customer: str | None) -> str | None:
    """`payment_method`, or a PaymentMethod made from `payment_method_data` (one of the two)."""
    data = params.get("payment_method_data")
    if data is None:
        return get_str(params, "payment_method")
    if not isinstance(data, dict) or params.get("payment_method"):
        raise invalid_request(
            "Pass either payment_method or payment_method_data, not both.",
            param="payment_method_data",
        )
    method = payment_methods.create_payment_method(state, data)
    if customer is not None:
        payment_methods.attach(state, method, customer)
    return str(method["id"])


@routes.post("/v1/payment_intents")
@creates(CREATE_PARAMS)
def create_intent(ctx: FakeContext, params: Params) -> Obj:
    """Create an intent; with `confirm=true` it is confirmed at once (402 if declined)."""
    automatic = params.get("automatic_payment_methods") or {}
    customer = get_str(params, "customer")
    intent = payment_intents.create_intent(
        ctx.state,
        amount=get_int(params, "amount", required=True) or 0,
        currency=get_str(params, "currency", required=True) or "",
        metadata=get_metadata(params),
        payment_method=_payment_method(ctx.state, params, customer),
        description=get_str(params, "description"),
        receipt_email=get_str(params, "receipt_email"),
        automatic_payment_methods=isinstance(automatic, dict) and get_bool(automatic, "enabled"),
        capture_method=get_str(params, "capture_method") or "automatic_async",
        confirmation_method=get_str(params, "confirmation_method") or "automatic",
        customer=customer,
        shipping=payment_intents.shipping_details(params.get("shipping")),
        payment_method_types=[str(t) for t in get_list(params, "payment_method_types")] or None,
        setup_future_usage=get_str(params, "setup_future_usage"),
    )
    ctx.state.emit("payment_intent.created", intent)
    if get_bool(params, "confirm"):
        payment_intents.confirm_intent(
            ctx.state, intent, return_url=get_str(params, "return_url"), base_url=ctx.base_url
        )
    return intent


@routes.post("/v1/payment_intents/{id}/confirm")
@acts_on(RESOURCE, CONFIRM_PARAMS)
def confirm_intent(ctx: FakeContext, params: Params, intent: Obj) -> None:
    """Confirm with a test PaymentMethod: `pm_card_visa` succeeds, `pm_card_chargeDeclined` is a
    402, `pm_card_authenticationRequired` requires_action (3-D Secure).

    Stripe.js confirms with the publishable `key` and the intent's `client_secret`
    (checked in `middleware.py`).
    """
    if "shipping" in params:
        intent["shipping"] = payment_intents.shipping_details(params.get("shipping"))
    payment_method = _payment_method(ctx.state, params, intent.get("customer"))
    payment_intents.confirm_intent(
        ctx.state,
        intent,
        payment_method,
        return_url=get_str(params, "return_url"),
        base_url=ctx.base_url,
    )


@routes.post("/v1/payment_intents/{id}/capture")
@acts_on(RESOURCE, ("amount_to_capture", "metadata"))
def capture_intent(ctx: FakeContext, params: Params, intent: Obj) -> None:
    """Capture a `capture_method=manual` intent's held funds (`amount_to_capture`: part)."""
    payment_intents.capture_intent(ctx.state, intent, get_int(params, "amount_to_capture"))


@routes.post("/v1/payment_intents/{id}/cancel")
@acts_on(RESOURCE, ("cancellation_reason",))
def cancel_intent(ctx: FakeContext, params: Params, intent: Obj) -> None:
    """Cancel an unfinished intent."""
    payment_intents.cancel_intent(ctx.state, intent, get_str(params, "cancellation_reason"))
