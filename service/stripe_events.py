"""Stripe's signed events: each type's effect on our records, deduplicated by event id.

The signature has been verified before anything here runs. Handling is idempotent on its
own (grants and reversals are exactly-once by reference), so an event processed twice
concurrently is harmless; the processed-event table only saves work on Stripe's retries.
"""

from __future__ import annotations

import logging
from typing import Any

from . import purchases
from .domain.models import PaymentIntentRecord
from .errors import ApiError
from .store import UnknownGrantError

log = logging.getLogger("rakubun.stripe")


async def handle_event(services: Any, event: dict[str, Any]) -> str:
    """Apply one event and answer its outcome (`granted`, `duplicate`, `ignored`, ...)."""
    event_id, event_type = event["id"], event["type"]
    if await services.store.stripe_event_seen(event_id):
        return "duplicate"
    obj = event.get("data", {}).get("object") or {}
    handler = HANDLERS.get(event_type)
    # A handler that raises (e.g. 409 grant_pending) leaves the event unrecorded: Stripe retries.
    outcome = await handler(services, obj) if handler else "ignored"
    await services.store.record_stripe_event(event_id, event_type, outcome)
    return outcome


async def _session_paid(services: Any, obj: dict[str, Any]) -> str:
    record = await services.store.get_checkout_session(str(obj.get("id")))
    if record is None:
        return "ignored"
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        return "awaiting_payment"
    site = await services.store.get_site(record.site_id)
    if site is None:
        return "ignored"
    result = await purchases.grant_checkout(services, site, record, obj.get("payment_intent"))
    return "granted" if result.applied else "already_granted"


async def _session_failed(services: Any, obj: dict[str, Any]) -> str:
    record = await services.store.get_checkout_session(str(obj.get("id")))
    return "ignored" if record is None else "payment_failed"


async def _session_expired(services: Any, obj: dict[str, Any]) -> str:
    changed = await services.store.transition_checkout_session(
        str(obj.get("id")), "pending", "expired", {})
    return "expired" if changed else "ignored"


async def _intent_succeeded(services: Any, obj: dict[str, Any]) -> str:
    record = await services.store.get_payment_intent(str(obj.get("id")))
    if record is None or obj.get("status") != "succeeded":
        return "ignored"
    site = await services.store.get_site(record.site_id)
    if site is None:
        return "ignored"
    result = await purchases.grant_intent(services, site, record)
    return "granted" if result.applied else "already_granted"


async def _intent_failed(services: Any, obj: dict[str, Any]) -> str:
    record = await services.store.get_payment_intent(str(obj.get("id")))
    return "ignored" if record is None else "payment_failed"


async def _grant_of(services: Any, payment_intent_id: str | None) -> tuple[str, Any] | None:
    """The grant reference and record bought by a payment intent (direct or via checkout)."""
    if not payment_intent_id:
        return None
    intent = await services.store.get_payment_intent(payment_intent_id)
    if intent is not None:
        return purchases.intent_ref(payment_intent_id), intent
    session = await services.store.get_checkout_session_by_payment_intent(payment_intent_id)
    if session is not None:
        return purchases.checkout_ref(session.session_id), session
    return None


async def _reverse(services: Any, obj: dict[str, Any], share: tuple[int, int],
                   reason: str) -> str:
    """Reverse the refunded (or disputed) share of the credits a payment bought."""
    payment_intent_id = _id(obj.get("payment_intent"))
    found = await _grant_of(services, payment_intent_id)
    if found is None:
        await _retry_if_ours(services, obj)
        return "ignored"
    ref, record = found
    site = await services.store.get_site(record.site_id)
    if site is None:
        return "ignored"
    if await services.store.get_ledger_entry(ref) is None:
        if not isinstance(record, PaymentIntentRecord):
            await _retry_if_ours(services, obj, known=True)
        # A refunded charge proves the direct payment succeeded: grant it, then reverse.
        await purchases.grant_intent(services, site, record)
    refunded, total = share
    credits = record.credits if total <= 0 else (record.credits * refunded) // total
    # The money given back so far, for the admin stats' net revenue.
    returned = record.amount if total <= 0 else (record.amount * refunded) // total
    try:
        result = await services.store.reverse(
            ref, credits, reason=reason,
            notify=await purchases.credits_notice(services, site, record.user_id,
                                                  record.user_email, reason),
            meta={"amount_reversed": returned})
    except UnknownGrantError:
        await _retry_if_ours(services, obj, known=True)
        raise
    if result.applied:
        services.dispatcher.wake()
        return "reversed"
    return "already_reversed"


async def _retry_if_ours(services: Any, obj: dict[str, Any], *, known: bool = False) -> None:
    """A refund that overtook the grant of one of our payments (Stripe does not promise
    order): answer 409 so Stripe delivers it again after the grant, instead of recording it
    as done and leaving the refunded credits with the user. Foreign payments are ignored."""
    site_id = (obj.get("metadata") or {}).get("site_id")
    if known or (site_id and await services.store.get_site(str(site_id)) is not None):
        raise ApiError(409, "grant_pending",
                       "This payment has not been granted yet; Stripe will deliver the event "
                       "again", retryable=True)


async def _charge_refunded(services: Any, obj: dict[str, Any]) -> str:
    amount = int(obj.get("amount") or 0)
    refunded = int(obj.get("amount_refunded") or 0)
    return await _reverse(services, obj, (refunded, amount), "refund")


async def _dispute_created(services: Any, obj: dict[str, Any]) -> str:
    return await _reverse(services, obj, (1, 1), "dispute")


def _id(value: Any) -> str | None:
    """Stripe sends a related object as its id, or expanded as an object with an id."""
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


HANDLERS = {
    "checkout.session.completed": _session_paid,
    "checkout.session.async_payment_succeeded": _session_paid,
    "checkout.session.async_payment_failed": _session_failed,
    "checkout.session.expired": _session_expired,
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
}
