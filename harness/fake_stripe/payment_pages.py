"""Checkout's payment pages: what Stripe's hosted page (and `stripe trigger`) calls to pay a
session with a PaymentMethod, `/v1/payment_pages/{session id}` and its `/confirm`.

Invariant: a card pays the session at once (checkout.session.completed, paid); a debit
completes it unpaid, then settles as its test IBAN says
(checkout.session.async_payment_succeeded or checkout.session.async_payment_failed).
"""

from __future__ import annotations

from typing import Any

from . import checkout_sessions, payment_intents, payment_methods
from .errors import invalid_request
from .state import StripeState


def page(session: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of a session: its amount, currency, payment method types, status."""
    return {
        "id": session["id"],
        "object": "checkout.session",
        "amount_total": session["amount_total"],
        "currency": session["currency"],
        "livemode": False,
        "mode": session["mode"],
        "payment_method_types": session["payment_method_types"],
        "payment_status": session["payment_status"],
        "status": session["status"],
    }


def confirm(
    state: StripeState, session: dict[str, Any], payment_method: str, expected_amount: int | None
) -> dict[str, Any]:
    """Pay an open session with a PaymentMethod, as the customer on the hosted page."""
    checkout_sessions.expire_if_due(state, session)
    checkout_sessions.require_open(session)
    if expected_amount is not None and expected_amount != session["amount_total"]:
        raise invalid_request(
            f"The expected amount ({expected_amount}) does not match the session's amount "
            f"({session['amount_total']}).",
            param="expected_amount",
        )
    method = payment_methods.behaviour(state, payment_method)
    if method.type not in session["payment_method_types"]:
        raise invalid_request(
            f"This Checkout Session does not take {method.type} payments.",
            param="payment_method",
        )
    intent = checkout_sessions.session_intent(state, session)
    if method.decline is not None:
        payment_intents.decline_intent(state, intent, payment_method, method.decline)
        raise payment_intents.card_error(intent, method.decline)
    debit = method.type == "sepa_debit"
    session.update(
        status="complete",
        payment_status="unpaid" if debit else "paid",
        payment_intent=intent["id"],
        customer_details={"email": session["customer_email"], "name": None},
    )
    state.put(session)
    state.emit("checkout.session.completed", session)
    if not debit:
        payment_intents.succeed_intent(state, intent, payment_method)
        return session
    payment_intents.start_processing(state, intent, payment_method)
    payment_intents.settle_debit(state, intent, method.settles)
    if intent["status"] == "succeeded":
        session["payment_status"] = "paid"
        state.put(session)
        state.emit("checkout.session.async_payment_succeeded", session)
    elif intent["status"] == "requires_payment_method":
        state.emit("checkout.session.async_payment_failed", session)
    return session
