"""Checkout Sessions: created by the API, then paid, declined, canceled or expired."""

from __future__ import annotations

from typing import Any

from . import objects, payment_intents, prices
from .errors import StripeError, invalid_request
from .forms import get_int, get_list, get_metadata, get_str
from .resources import CHECKOUT_SESSION, LINE_ITEM, PAYMENT_INTENT, PRICE, PRODUCT
from .state import StripeState

DEFAULT_LIFETIME = 24 * 3600  # Stripe's default: sessions expire after 24 hours
SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"


def create_session(state: StripeState, params: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Create an open, unpaid session from decoded API params; its `url` is the hosted page."""
    mode = get_str(params, "mode", required=True)
    if mode != "payment":
        raise invalid_request(f"The fake supports mode=payment only, not {mode}.", param="mode")
    items = [_line_item(state, item, i) for i, item in enumerate(params.get("line_items") or [])]
    if not items:
        raise invalid_request("Missing required param: line_items.", param="line_items")
    currencies = {item["currency"] for item in items}
    if len(currencies) > 1:
        raise invalid_request("All line items must use the same currency.", param="line_items")
    expires_at = get_int(params, "expires_at") or objects.now() + DEFAULT_LIFETIME
    if expires_at <= objects.now():
        raise invalid_request(
            "The `expires_at` timestamp must be in the future.", param="expires_at"
        )
    intent_data = params.get("payment_intent_data") or {}
    total = sum(item["amount_total"] for item in items)
    session = objects.base(
        CHECKOUT_SESSION,
        amount_subtotal=total,
        amount_total=total,
        cancel_url=get_str(params, "cancel_url"),
        client_reference_id=get_str(params, "client_reference_id"),
        currency=currencies.pop(),
        customer=None,
        customer_details=None,
        customer_email=get_str(params, "customer_email"),
        expires_at=expires_at,
        locale=get_str(params, "locale"),
        metadata=get_metadata(params),
        mode=mode,
        payment_intent=None,
        payment_method_types=_payment_method_types(params),
        payment_status="unpaid",
        status="open",
        success_url=get_str(params, "success_url"),
        ui_mode="hosted",
    )
    session["url"] = f"{base_url}/checkout/pay/{session['id']}"
    state.line_items[session["id"]] = items
    state.payment_intent_data[session["id"]] = {
        "metadata": get_metadata(intent_data),
        "description": get_str(intent_data, "description"),
        "payment_intent": None,
        "shipping": payment_intents.shipping_details(intent_data.get("shipping")),
        "setup_future_usage": get_str(intent_data, "setup_future_usage"),
    }
    return state.put(session)


PAYMENT_METHOD_TYPES = ("card", "sepa_debit")


def _payment_method_types(params: dict[str, Any]) -> list[str]:
    types = get_list(params, "payment_method_types") or ["card"]
    for kind in types:
        if kind not in PAYMENT_METHOD_TYPES:
            raise invalid_request(
                f"The fake takes payment_method_types {', '.join(PAYMENT_METHOD_TYPES)} only.",
                param="payment_method_types",
            )
    return [str(kind) for kind in types]


def _line_item(state: StripeState, raw: Any, index: int) -> dict[str, Any]:
    param = f"line_items[{index}]"
    if not isinstance(raw, dict):
        raise invalid_request("Invalid line item.", param=param)
    if "price" in raw:
        return _stored_price_item(state, raw, param)
    price_data = raw.get("price_data")
    if not isinstance(price_data, dict):
        raise invalid_request("Missing required param: price_data.", param=f"{param}[price_data]")
    currency = (get_str(price_data, "currency", required=True) or "").lower()
    unit_amount = get_int(price_data, "unit_amount", required=True) or 0
    product_data = price_data.get("product_data") or {}
    name = get_str(product_data, "name") if isinstance(product_data, dict) else None
    if not name:
        raise invalid_request(
            "Missing required param: product_data[name].",
            param=f"{param}[price_data][product_data][name]",
        )
    quantity = get_int(raw, "quantity", required=True) or 0
    if quantity < 1 or unit_amount < 0:
        raise invalid_request("Quantity and unit_amount must be positive.", param=param)
    price = prices.build_price(currency, unit_amount)
    return objects.base(
        LINE_ITEM,
        amount_discount=0,
        amount_subtotal=unit_amount * quantity,
        amount_tax=0,
        amount_total=unit_amount * quantity,
        currency=currency,
        description=name,
        price=price,
        quantity=quantity,
    )


def _stored_price_item(state: StripeState, raw: dict[str, Any], param: str) -> dict[str, Any]:
    """A line item of a price made with `POST /v1/prices`."""
    price_id = get_str(raw, "price") or ""
    price = state.find(PRICE, price_id)
    if price is None:
        raise StripeError(
            400, f"No such price: '{price_id}'", code="resource_missing", param=f"{param}[price]"
        )
    product = state.get(PRODUCT, price["product"])
    quantity = get_int(raw, "quantity", required=True) or 0
    if quantity < 1:
        raise invalid_request("Quantity must be positive.", param=f"{param}[quantity]")
    return objects.base(
        LINE_ITEM,
        amount_discount=0,
        amount_subtotal=price["unit_amount"] * quantity,
        amount_tax=0,
        amount_total=price["unit_amount"] * quantity,
        currency=price["currency"],
        description=product["name"],
        price=dict(price),
        quantity=quantity,
    )


def line_items(state: StripeState, session: dict[str, Any]) -> list[dict[str, Any]]:
    """The session's line items (Stripe serves them from /line_items or `expand`)."""
    return state.line_items.get(session["id"], [])


def expire_if_due(state: StripeState, session: dict[str, Any]) -> dict[str, Any]:
    """Expire an open session whose `expires_at` has passed, as Stripe does on its own."""
    if session["status"] == "open" and objects.now() >= session["expires_at"]:
        expire_session(state, session)
    return session


def require_open(session: dict[str, Any]) -> None:
    if session["status"] != "open":
        raise invalid_request(
            f"This Checkout Session is {session['status']} and can no longer be paid.",
            code="checkout_session_not_open",
        )


def session_intent(state: StripeState, session: dict[str, Any]) -> dict[str, Any]:
    """The session's PaymentIntent, made when the customer first pays and reused when a
    declined customer tries again."""
    data = state.payment_intent_data.setdefault(session["id"], {"metadata": {}})
    if data.get("payment_intent"):
        return state.get(PAYMENT_INTENT, data["payment_intent"])
    intent = payment_intents.create_intent(
        state,
        amount=session["amount_total"],
        currency=session["currency"],
        metadata=dict(data.get("metadata") or {}),
        description=data.get("description"),
        receipt_email=session["customer_email"],
        payment_method_types=list(session["payment_method_types"]),
        shipping=data.get("shipping"),
        setup_future_usage=data.get("setup_future_usage"),
    )
    data["payment_intent"] = intent["id"]
    return intent


def pay_session(state: StripeState, session: dict[str, Any]) -> dict[str, Any]:
    """Pay with the test card: the session completes, then its PaymentIntent succeeds.

    Events, in order: checkout.session.completed, payment_intent.succeeded, charge.succeeded
    (the session event first, so "next event" faults hit the event integrations act on).
    """
    expire_if_due(state, session)
    require_open(session)
    intent = session_intent(state, session)
    session.update(
        status="complete",
        payment_status="paid",
        payment_intent=intent["id"],
        customer_details={"email": session["customer_email"], "name": None},
    )
    state.put(session)
    state.emit("checkout.session.completed", session)
    payment_intents.succeed_intent(state, intent, "pm_card_visa")
    return session


def decline_session(state: StripeState, session: dict[str, Any]) -> dict[str, Any]:
    """Try the declining test card: the session stays open; emits payment_intent.payment_failed."""
    expire_if_due(state, session)
    require_open(session)
    payment_intents.decline_intent(state, session_intent(state, session))
    return session


def expire_session(state: StripeState, session: dict[str, Any]) -> dict[str, Any]:
    """Expire an open session (cancelling its declined intent, if any); emits checkout.session.expired."""
    if session["status"] != "open":
        raise invalid_request(
            'Only Checkout Sessions with a status in ["open"] can be expired.',
            code="checkout_session_not_open",
        )
    session["status"] = "expired"
    state.put(session)
    state.emit("checkout.session.expired", session)
    intent_id = state.payment_intent_data.get(session["id"], {}).get("payment_intent")
    if intent_id:
        payment_intents.cancel_intent(state, state.get(PAYMENT_INTENT, intent_id), "abandoned")
    return session


def success_redirect(session: dict[str, Any]) -> str | None:
    """The success_url with Stripe's `{CHECKOUT_SESSION_ID}` template filled in."""
    url = session.get("success_url")
    return url.replace(SESSION_ID_PLACEHOLDER, session["id"]) if url else None
