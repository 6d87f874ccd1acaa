"""`/v1/payment_intents`: create, confirm, cancel (retrieve and list: `reads.py`)."""

from __future__ import annotations

from aiohttp import web

from .. import payment_intents
from ..context import context
from ..forms import get_bool, get_int, get_metadata, get_str, reject_unknown
from ..resources import PAYMENT_INTENT
from ..wire import expand_paths, read_params, stripe_json

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
)


@routes.post("/v1/payment_intents")
async def create_intent(request: web.Request) -> web.Response:
    """Create an intent; with `confirm=true` it is confirmed at once (402 if declined)."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, CREATE_PARAMS)
    automatic = params.get("automatic_payment_methods") or {}
    intent = payment_intents.create_intent(
        ctx.state,
        amount=get_int(params, "amount", required=True) or 0,
        currency=get_str(params, "currency", required=True) or "",
        metadata=get_metadata(params),
        payment_method=get_str(params, "payment_method"),
        description=get_str(params, "description"),
        receipt_email=get_str(params, "receipt_email"),
        automatic_payment_methods=isinstance(automatic, dict) and get_bool(automatic, "enabled"),
    )
    if get_bool(params, "confirm"):
        payment_intents.confirm_intent(ctx.state, intent, base_url=ctx.base_url)
    return stripe_json(ctx.state.expanded(intent, expand_paths(params)))


@routes.post("/v1/payment_intents/{id}/confirm")
async def confirm_intent(request: web.Request) -> web.Response:
    """Confirm with a test PaymentMethod: `pm_card_visa` succeeds, `pm_card_chargeDeclined` is a
    402, `pm_card_authenticationRequired` requires_action (3-D Secure).

    Stripe.js confirms with the publishable `key` and the intent's `client_secret`
    (checked in `middleware.py`).
    """
    ctx, params = context(request), await read_params(request)
    reject_unknown(
        params, ("payment_method", "receipt_email", "return_url", "client_secret", "key")
    )
    intent = ctx.state.get(RESOURCE, request.match_info["id"])
    payment_intents.confirm_intent(
        ctx.state,
        intent,
        get_str(params, "payment_method"),
        return_url=get_str(params, "return_url"),
        base_url=ctx.base_url,
    )
    return stripe_json(ctx.state.expanded(intent, expand_paths(params)))


@routes.post("/v1/payment_intents/{id}/cancel")
async def cancel_intent(request: web.Request) -> web.Response:
    """Cancel an unfinished intent."""
    ctx, params = context(request), await read_params(request)
    reject_unknown(params, ("cancellation_reason",))
    intent = ctx.state.get(RESOURCE, request.match_info["id"])
    payment_intents.cancel_intent(ctx.state, intent, get_str(params, "cancellation_reason"))
    return stripe_json(ctx.state.expanded(intent, expand_paths(params)))
