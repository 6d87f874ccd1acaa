"""Stripe's signed events (the signature was verified before the handler runs)."""

from __future__ import annotations

from ...flows.stripe_events import handle_event
from .registry import Call, Operations, Reply

ops = Operations()


@ops("receiveStripeWebhook")
async def receive_stripe_webhook(call: Call) -> Reply:
    outcome = await handle_event(call.services, call.body)
    return {"success": True, "received": True, "event_id": call.body["id"], "outcome": outcome}
