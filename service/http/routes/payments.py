"""The direct flow: PaymentIntents created here and confirmed after the browser pays."""

from __future__ import annotations

from ...flows import purchases
from .registry import Call, Operations, Reply

ops = Operations()


@ops("createPaymentIntent")
async def create_payment_intent(call: Call) -> Reply:
    return await purchases.create_payment_intent(call.services, call.own_site, call.body)


@ops("confirmPayment")
async def confirm_payment(call: Call) -> Reply:
    return await purchases.confirm_payment(call.services, call.own_site, call.body)
