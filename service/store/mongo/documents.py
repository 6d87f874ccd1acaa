"""Domain dataclasses to MongoDB documents and back: pure functions, no server needed.

Documents keep the dataclasses' field names. Our own ids live in their own fields with
unique indexes; `_id` stays the server's ObjectId. "Newest first" sorts on `created_at`,
then `_id` (see NEWEST_FIRST): an ObjectId's order is only its creating client's clock to
the second and then a per-process counter, so it is not creation order across workers.
Timestamps stay ISO strings, except in checkout sessions,
whose seed schema wants BSON dates (and the TTL index needs one): those are read back at
BSON's millisecond precision.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ...domain.models import (
    CREDIT_TYPES,
    Balances,
    CheckoutSession,
    LedgerEntry,
    Package,
    PaymentIntentRecord,
    Site,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDraft,
)
from ..base import StoreError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

#: Ledger entry states. Entries are written `applied`, inside the transaction that moves
#: their balance; a `pending` one can only be a leftover in a database written by an
#: earlier version of this adapter: open() refuses to start while one exists, and
#: reconcile() names it.
PENDING, APPLIED = "pending", "applied"

#: Sort orders on `created_at` (ISO strings of one format, so they sort in time order) with
#: `_id` to break ties.
NEWEST_FIRST = [("created_at", -1), ("_id", -1)]
OLDEST_FIRST = [("created_at", 1), ("_id", 1)]

SESSION_DATES = ("created_at", "expires_at", "completed_at")


def to_date(iso: str | None) -> datetime | None:
    if iso is None:
        return None
    value = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def to_iso(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _build(cls: type[T], doc: dict[str, Any]) -> T:
    """The dataclass `cls` from the document's fields of the same names."""
    values = {f.name: doc[f.name] for f in fields(cls) if f.name in doc}
    return cls(**values)


# ------------------------------------------------------------------ sites, packages
def site_doc(site: Site) -> dict[str, Any]:
    return asdict(site)


def site_from(doc: dict[str, Any]) -> Site:
    return _build(Site, doc)


def package_doc(package: Package) -> dict[str, Any]:
    return asdict(package)


def package_from(doc: dict[str, Any]) -> Package:
    return _build(Package, doc)


PACKAGE_FIELDS = frozenset(f.name for f in fields(Package))


# ------------------------------------------------------------------ users and money
def balances_from(doc: dict[str, Any] | None) -> Balances:
    """A `balances` document holds one user's `credits` of every type."""
    return Balances.from_mapping(dict((doc or {}).get("credits") or {}))


def new_balance_fields(credit_type: str) -> dict[str, int]:
    """`$setOnInsert` for a new balances document: zero for every other credit type (the
    changed one is `$inc`'d, and one update may not name a path twice)."""
    return {f"credits.{t}": 0 for t in CREDIT_TYPES if t != credit_type}


def entry_doc(entry: LedgerEntry, *, state: str) -> dict[str, Any]:
    # `reversed` is how much of this entry reverse() has taken back; reverse() adds its
    # buckets (`reversals`) and `revision`, the compare-and-set guard that serialises
    # concurrent refunds and disputes of one grant.
    return {**asdict(entry), "state": state, "reversed": 0}


def entry_from(doc: dict[str, Any]) -> LedgerEntry:
    return _build(LedgerEntry, doc)


# ------------------------------------------------------------------ sessions and intents
def session_doc(session: CheckoutSession) -> dict[str, Any]:
    doc = asdict(session)
    for name in SESSION_DATES:
        doc[name] = to_date(doc[name])
    return doc


def session_from(doc: dict[str, Any]) -> CheckoutSession:
    values = dict(doc)
    for name in SESSION_DATES:
        values[name] = to_iso(values.get(name))
    return _build(CheckoutSession, values)


def intent_doc(intent: PaymentIntentRecord) -> dict[str, Any]:
    return asdict(intent)


def intent_from(doc: dict[str, Any]) -> PaymentIntentRecord:
    return _build(PaymentIntentRecord, doc)


TRANSITION_FIELDS = frozenset({"payment_intent_id", "completed_at", "url"})


def transition_fields(fields_: dict[str, Any], *, dates: bool) -> dict[str, Any]:
    """The extra fields a status transition may set; `completed_at` as a date if `dates`."""
    extra = {k: v for k, v in fields_.items() if k in TRANSITION_FIELDS}
    if dates and "completed_at" in extra:
        extra["completed_at"] = to_date(extra["completed_at"])
    return extra


# ------------------------------------------------------------------ outbox
def delivery_doc(delivery: WebhookDelivery, draft: WebhookDraft | None = None) -> dict[str, Any]:
    """The outbox document; leased as `draft` says when it was claimed at birth."""
    doc = asdict(delivery)
    del doc["attempt_log"]  # attempts live in their own collection
    lease = (draft.lease_owner, draft.lease_until) if draft is not None else (None, None)
    return {**doc, "lease_owner": lease[0], "lease_until": lease[1]}


def delivery_from(
    doc: dict[str, Any], attempts: list[dict[str, Any]] | None = None
) -> WebhookDelivery:
    log = tuple(attempt_from(a) for a in sorted(attempts or [], key=lambda a: a["attempt"]))
    values: dict[str, Any] = {
        f.name: doc.get(f.name) for f in fields(WebhookDelivery) if f.name != "attempt_log"
    }
    return WebhookDelivery(**values, attempt_log=log)


def attempt_doc(delivery_id: str, attempt: WebhookAttempt) -> dict[str, Any]:
    return {"delivery_id": delivery_id, **asdict(attempt)}


def attempt_from(doc: dict[str, Any]) -> WebhookAttempt:
    return _build(WebhookAttempt, doc)


def applied_entry(doc: dict[str, Any]) -> LedgerEntry:
    """The entry of a ledger document that moved its balance; StoreError for a pending one,
    which must never be answered as a success (it may have moved nothing)."""
    state = doc.get("state", APPLIED)
    if state != APPLIED:
        raise StoreError(
            f"ledger entry {doc.get('source_ref')!r} is {state!r}, left by an earlier version:"
            " settle it by hand (see pending_entries_refusal) before it can be answered"
        )
    return entry_from(doc)
