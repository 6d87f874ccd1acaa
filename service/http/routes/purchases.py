"""Stripe Checkout: create a session, read it, verify it after the redirect."""

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
