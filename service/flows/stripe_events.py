"""Stripe's signed events: each type's effect on our records, deduplicated by event id.

The signature has been verified before anything here runs. Handling is idempotent on its
own (grants are exactly-once by reference, reversals are cumulative targets), so an event
processed twice concurrently is harmless; the processed-event table only saves work on
Stripe's retries. An event is recorded only after it was applied: one that cannot be
applied yet raises (409 `grant_pending`, or 502 when Stripe cannot be asked), so Stripe
delivers it again.

A signed event of a handled type whose object lacks a field its handling reads, or carries
one of the wrong type (`READS`: an amount that is not an integer, a status that is not a
string, ...), is refused before anything else: 400 `invalid_event`, its id recorded with the
outcome `rejected`, nothing else changed; a missing amount never counts as zero. A 4xx rather
than a 2xx, so Stripe's dashboard shows the endpoint failing the event; its redeliveries are
refused the same way, again without effect, until Stripe gives up.

Money events (refunds, disputes) find our purchase by the ids Stripe puts on them: the
payment intent (or the charge's payment intent), never `metadata`, which a Dispute lacks;
a charge Stripe does not know is no payment of ours (`ignored`).
A checkout session's payment intent is stored as soon as we learn it; for one we have not
learnt yet, Stripe is asked which Checkout Session carries it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..context import Services
from ..domain.models import CheckoutSession, PaymentIntentRecord, Site
from ..errors import GrantPending, InvalidEvent, StripeNotFound
from . import purchases

log = logging.getLogger("rakubun.stripe")

PAID = ("paid", "no_payment_required")

#: What a dispute's status means for the credits it bought: True takes the disputed share
#: back (Stripe withdrew the funds), False leaves it with the buyer. Inquiries (`warning_*`)
#: move no funds; `won` reinstates them; `lost` keeps them withdrawn.
DISPUTE_REVERSES = {
    "warning_needs_response": False,
    "warning_under_review": False,
    "warning_closed": False,
    "needs_response": True,
    "under_review": True,
    "won": False,
    "lost": True,
    "prevented": False,
}
#: Statuses after which a dispute never changes: their report outranks any earlier one.
DISPUTE_CLOSED = frozenset({"warning_closed", "won", "lost", "prevented"})
OPEN_REPORT, CLOSED_REPORT = 1, 2
#: The outcome recorded for a signed event whose fields its handling cannot use.
REJECTED = "rejected"


async def handle_event(services: Services, event: dict[str, Any]) -> str:
    """Apply one event and answer its outcome (`granted`, `duplicate`, `ignored`, ...);
    400 `invalid_event` for one whose fields are unfit (`unfit_field`), recorded as such."""
    event_id, event_type = event["id"], event["type"]
    obj = event["data"]["object"]
    problem = unfit_field(event_type, obj)
    if problem is not None:
        await services.store.record_stripe_event(event_id, event_type, REJECTED)
        log.warning("rejected Stripe event %s (%s): %s", event_id, event_type, problem)
        raise InvalidEvent(f"{InvalidEvent.message}: {problem}")
    if await services.store.stripe_event_seen(event_id):
        return "duplicate"
    handler = EVENT_HANDLERS.get(event_type)
    # A handler that raises (e.g. 409 grant_pending) leaves the event unrecorded: Stripe retries.
    if handler is None:
        outcome = "ignored"
    elif event_type in TIMED:
        outcome = await handler(services, obj, _created(event))
    else:
        outcome = await handler(services, obj)
    await services.store.record_stripe_event(event_id, event_type, outcome)
    return outcome


# --------------------------------------------------------------------------- payments
async def _session_paid(services: Services, obj: dict[str, Any]) -> str:
    record = await services.store.get_checkout_session(obj["id"])
    if record is None:
        return "ignored"
    payment_intent_id = _id(obj.get("payment_intent"))
    if obj.get("payment_status") not in PAID:
        if payment_intent_id:
            await services.store.link_checkout_payment_intent(record.session_id, payment_intent_id)
        return "awaiting_payment"
    site = await services.store.get_site(record.site_id)
    if site is None:
        return "ignored"
    result = await purchases.grant_checkout(services, site, record, payment_intent_id)
    return "granted" if result.applied else "already_granted"


async def _session_failed(services: Services, obj: dict[str, Any]) -> str:
    """The delayed payment failed: nothing is granted, and a pending session closes (`failed`);
    one already granted stays completed."""
    record = await services.store.get_checkout_session(obj["id"])
    if record is None:
        return "ignored"
    await services.store.transition_checkout_session(record.session_id, "pending", "failed", {})
    return "payment_failed"


async def _session_expired(services: Services, obj: dict[str, Any]) -> str:
    changed = await services.store.transition_checkout_session(obj["id"], "pending", "expired", {})
    return "expired" if changed else "ignored"


async def _intent_succeeded(services: Services, obj: dict[str, Any]) -> str:
    record = await services.store.get_payment_intent(obj["id"])
    if record is None or obj.get("status") != "succeeded":
        return "ignored"
    site = await services.store.get_site(record.site_id)
    if site is None:
        return "ignored"
    result = await purchases.grant_intent(services, site, record)
    return "granted" if result.applied else "already_granted"


async def _intent_failed(services: Services, obj: dict[str, Any]) -> str:
    record = await services.store.get_payment_intent(obj["id"])
    return "ignored" if record is None else "payment_failed"


# --------------------------------------------------------------------------- money back
@dataclass(frozen=True)
class Purchase:
    """One of our purchases, as a money event about it resolves to."""

    ref: str
    record: CheckoutSession | PaymentIntentRecord
    site: Site


async def _purchase_of(services: Services, obj: dict[str, Any]) -> Purchase | None:
    """Our purchase a charge, refund or dispute is about, by its payment intent; None when
    the payment is not ours."""
    payment_intent_id = _id(obj.get("payment_intent"))
    charge_id = _id(obj.get("charge"))
    if payment_intent_id is None and charge_id:
        try:
            charge = await services.stripe.retrieve_charge(charge_id)
        except StripeNotFound:
            return None  # a charge Stripe does not know is no payment of ours
        payment_intent_id = _id(charge.get("payment_intent"))
    if payment_intent_id is None:
        return None
    store = services.store
    record: CheckoutSession | PaymentIntentRecord | None
    record = await store.get_payment_intent(payment_intent_id)
    if record is not None:
        ref = purchases.intent_ref(payment_intent_id)
    else:
        session = await store.get_checkout_session_by_payment_intent(payment_intent_id)
        if session is None:
            session = await _session_learnt_from_stripe(services, payment_intent_id)
        if session is None:
            return None
        record = session
        ref = purchases.checkout_ref(session.session_id)
    site = await store.get_site(record.site_id)
    return None if site is None else Purchase(ref, record, site)


async def _session_learnt_from_stripe(
    services: Services, payment_intent_id: str
) -> CheckoutSession | None:
    """Ask Stripe which Checkout Session carries the payment intent; if it is one of ours,
    store the link (the completed event that would have told us may not have come yet)."""
    found = await services.stripe.find_checkout_session(payment_intent_id)
    if found is None:
        return None
    record = await services.store.get_checkout_session(str(found.get("id")))
    if record is None:
        return None
    await services.store.link_checkout_payment_intent(record.session_id, payment_intent_id)
    return await services.store.get_checkout_session(record.session_id)


async def _ensure_granted(services: Services, purchase: Purchase) -> None:
    """A refund or dispute proves the payment succeeded: grant it first if no event or call
    did yet, so the money coming back is taken from credits the buyer holds."""
    if await services.store.get_ledger_entry(purchase.ref) is not None:
        return
    record = purchase.record
    if isinstance(record, PaymentIntentRecord):
        await purchases.grant_intent(services, purchase.site, record)
        return
    try:
        stripe_session = await services.stripe.retrieve_checkout_session(record.session_id)
    except StripeNotFound as exc:
        # Ours but unknown to Stripe (another account's key?): not reported paid, so wait.
        raise GrantPending(retryable=True) from exc
    if stripe_session.get("payment_status") not in PAID:
        raise GrantPending(retryable=True)
    await purchases.grant_checkout(
        services, purchase.site, record, _id(stripe_session.get("payment_intent"))
    )


async def _set_reversal(
    services: Services,
    obj: dict[str, Any],
    taken: int,
    total: int | None,
    *,
    bucket: str,
    version: int | None,
    reason: str,
    round_up: bool = False,
    at: Refunds | None = None,
) -> str:
    """Set one bucket's share (money `taken` of `total`, by default the price we recorded)
    of the credits a payment bought, rounded down (refunds) or up (disputes): a charge
    refunded in part and disputed for the rest then takes back every credit. `at` versions a
    refund report by when Stripe made it (`Refunds`) instead of `version`."""
    purchase = await _purchase_of(services, obj)
    if purchase is None:
        return "ignored"
    await _ensure_granted(services, purchase)
    record = purchase.record
    total = record.amount if total is None else total
    if total <= 0:
        credits = record.credits
    else:
        share = -(-record.credits * taken // total) if round_up else record.credits * taken // total
        credits = min(record.credits, share)
    if at is not None:
        version = at.version(credits, record.credits)
    # This bucket's money given back, for the admin stats' net revenue.
    returned = record.amount if total <= 0 else min(record.amount, record.amount * taken // total)
    result = await services.store.reverse(
        purchase.ref,
        credits,
        reason=reason,
        bucket=bucket,
        version=version,
        notify=await purchases.credits_notice(
            services, purchase.site, record.user_id, record.user_email, reason
        ),
        meta={"amount_reversed": returned},
    )
    if not result.applied:
        return "unchanged"  # a replay, or a report older than what the buckets hold
    services.dispatcher.wake()
    assert result.entry is not None
    return "reversed" if result.entry.delta < 0 else "restored"


@dataclass(frozen=True)
class Refunds:
    """When a report of a charge's refunded amount was made, which orders the reports.

    A charge's `amount_refunded` grows with each refund and shrinks when one fails, so the
    newest report wins: reports are ranked by their event's `created` second, then, within one
    second, a failure above every refund (Stripe fails a refund after it succeeded), and
    refunds by the credits they take back (they only grow). A report without `created` (0)
    ranks as the target itself, as before failures were handled.
    """

    created: int
    failure: bool = False

    def version(self, credits: int, granted: int) -> int:
        """The bucket version: `created` seconds, then the rank within that second."""
        rank = granted + 1 if self.failure else credits
        return self.created * (granted + 2) + rank


async def _charge_refunded(services: Services, obj: dict[str, Any], created: int) -> str:
    return await _follow_refunds(services, obj, obj, reason="refund", at=Refunds(created))


async def _refund_updated(services: Services, obj: dict[str, Any], created: int) -> str:
    """A refund that failed gives back the credits it took: the refund bucket follows the
    charge's `amount_refunded` as Stripe has it now (the failed refund no longer counted).
    Other updates (metadata, a pending refund succeeding) change nothing of ours."""
    if obj["status"] != "failed":
        return "ignored"
    charge_id = _id(obj.get("charge"))
    if charge_id is None or await _purchase_of(services, obj) is None:
        return "ignored"
    try:
        charge = await services.stripe.retrieve_charge(charge_id)
    except StripeNotFound:
        return "ignored"
    if unfit_field("charge.refunded", charge) is not None:
        raise InvalidEvent(f"{InvalidEvent.message}: Stripe's charge {charge_id} is unfit")
    at = Refunds(created, failure=True)
    return await _follow_refunds(services, obj, charge, reason="refund_failed", at=at)


async def _follow_refunds(
    services: Services, obj: dict[str, Any], charge: dict[str, Any], *, reason: str, at: Refunds
) -> str:
    """Set the refund bucket to the share of `charge` Stripe reports refunded (a refund or a
    failed refund alike), ranked by when the report was made."""
    refunded, amount = charge["amount_refunded"], charge["amount"]
    return await _set_reversal(
        services, obj, refunded, amount, bucket="refund", version=None, reason=reason, at=at
    )


async def _dispute(services: Services, obj: dict[str, Any], reverses: bool, closed: bool) -> str:
    """Set a dispute's bucket: its share when the funds are withdrawn, 0 when they are not
    (or were reinstated). A closed dispute's report outranks any report of it still open."""
    disputed = obj["amount"] if reverses else 0
    return await _set_reversal(
        services,
        obj,
        disputed,
        None,
        bucket=f"dispute:{obj['id']}",
        version=CLOSED_REPORT if closed else OPEN_REPORT,
        reason="dispute" if reverses else "dispute_won",
        round_up=True,
    )


async def _dispute_changed(services: Services, obj: dict[str, Any]) -> str:
    """created, updated, closed: the dispute's status says where its funds are."""
    status = obj["status"]
    if status not in DISPUTE_REVERSES:
        return "ignored"
    return await _dispute(services, obj, DISPUTE_REVERSES[status], status in DISPUTE_CLOSED)


async def _dispute_funds_withdrawn(services: Services, obj: dict[str, Any]) -> str:
    return await _dispute(services, obj, True, obj["status"] in DISPUTE_CLOSED)


async def _dispute_funds_reinstated(services: Services, obj: dict[str, Any]) -> str:
    return await _dispute(services, obj, False, True)


# --------------------------------------------------------------------------- fit fields
def _created(event: dict[str, Any]) -> int:
    """The event's `created` second; 0 when it has none (reports then rank as before)."""
    created = event.get("created")
    return created if type(created) is int and created > 0 else 0


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _reference(value: Any) -> bool:
    """A related object: absent, its id, or expanded as an object with an id."""
    return value is None or _text(value) or (isinstance(value, dict) and _text(value.get("id")))


def _count(value: Any) -> bool:
    # Stripe's amounts are integers in the currency's smallest unit; bool is not a number.
    return type(value) is int and value >= 0


def _positive(value: Any) -> bool:
    return type(value) is int and value >= 1


Field = tuple[Callable[[Any], bool], str]
TEXT: Field = (_text, "a non-empty string")
REFERENCE: Field = (_reference, "absent, null, an id or an object with an id")
COUNT: Field = (_count, "an integer of at least 0")
POSITIVE: Field = (_positive, "an integer of at least 1")

_SESSION = {"id": TEXT, "payment_intent": REFERENCE, "payment_status": TEXT}
_DISPUTE = {
    "id": TEXT,
    "amount": COUNT,
    "status": TEXT,
    "payment_intent": REFERENCE,
    "charge": REFERENCE,
}
#: Event type -> the fields of its object its handling reads, each with what it must be.
READS: dict[str, dict[str, Field]] = {
    "checkout.session.completed": _SESSION,
    "checkout.session.async_payment_succeeded": _SESSION,
    "checkout.session.async_payment_failed": {"id": TEXT},
    "checkout.session.expired": {"id": TEXT},
    "payment_intent.succeeded": {"id": TEXT, "status": TEXT},
    "payment_intent.payment_failed": {"id": TEXT},
    "charge.refunded": {
        "amount": POSITIVE,
        "amount_refunded": COUNT,
        "payment_intent": REFERENCE,
        "charge": REFERENCE,
    },
    "charge.refund.updated": {
        "id": TEXT,
        "status": TEXT,
        "payment_intent": REFERENCE,
        "charge": REFERENCE,
    },
    "charge.dispute.created": _DISPUTE,
    "charge.dispute.updated": _DISPUTE,
    "charge.dispute.closed": _DISPUTE,
    "charge.dispute.funds_withdrawn": _DISPUTE,
    "charge.dispute.funds_reinstated": _DISPUTE,
}


def unfit_field(event_type: str, obj: dict[str, Any]) -> str | None:
    """What makes a handled event's object unfit for its handling, or None when it is fit
    (and for types we do not handle)."""
    for name, (fits, wanted) in READS.get(event_type, {}).items():
        value = obj.get(name)
        if not fits(value):
            got = "is missing" if name not in obj else f"is {_json_type(value)}"
            return f"{event_type}: data.object.{name} {got}; it must be {wanted}"
    if event_type == "charge.refunded" and obj["amount_refunded"] > obj["amount"]:
        return f"{event_type}: data.object.amount_refunded exceeds data.object.amount"
    return None


def _json_type(value: Any) -> str:
    """What a parsed value is, for a message that never echoes the text an event carries."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return repr(value) if abs(value) < 1e18 else "a number out of range"
    if isinstance(value, str):
        return "an empty string" if value == "" else "a string"
    return "an array" if isinstance(value, list) else "an object"


def _id(value: Any) -> str | None:
    """Stripe sends a related object as its id, or expanded as an object with an id."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


#: Stripe event type -> what it does to our purchases; other types are recorded and ignored.
EVENT_HANDLERS: dict[str, Callable[..., Awaitable[str]]] = {
    "checkout.session.completed": _session_paid,
    "checkout.session.async_payment_succeeded": _session_paid,
    "checkout.session.async_payment_failed": _session_failed,
    "checkout.session.expired": _session_expired,
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "charge.refunded": _charge_refunded,
    "charge.refund.updated": _refund_updated,
    "charge.dispute.created": _dispute_changed,
    "charge.dispute.updated": _dispute_changed,
    "charge.dispute.closed": _dispute_changed,
    "charge.dispute.funds_withdrawn": _dispute_funds_withdrawn,
    "charge.dispute.funds_reinstated": _dispute_funds_reinstated,
}
#: The types whose handler also reads when Stripe made the event (its `created`).
TIMED = frozenset({"charge.refunded", "charge.refund.updated"})
