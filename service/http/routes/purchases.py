"""Buying credits through Stripe: Checkout sessions (the spec's `checkout` tag) and the direct
flow's PaymentIntents, created here and confirmed after the browser pays (`payments`)."""

from __future__ import annotations

from ...flows import purchases
from .registry import Call, Operations, Reply

ops = Operations()


@ops("createCheckoutSession")
async def create_checkout_session(call: Call) -> Reply:
    return await purchases.create_checkout_session(call.services, call.own_site, call.body)


@ops("getCheckoutSession")
async def get_checkout_session(call: Call) -> Reply:
    return await purchases.checkout_session_status(
        call.services, call.own_site, call.params["session_id"]
    )


@ops("verifyCheckoutSession")
async def verify_checkout_session(call: Call) -> Reply:
    return await purchases.verify_checkout_session(
        call.services, call.own_site, call.body["session_id"]
    )


@ops("createPaymentIntent")
async def create_payment_intent(call: Call) -> Reply:
    return await purchases.create_payment_intent(call.services, call.own_site, call.body)


@ops("confirmPayment")
async def confirm_payment(call: Call) -> Reply:
    return await purchases.confirm_payment(call.services, call.own_site, call.body)
