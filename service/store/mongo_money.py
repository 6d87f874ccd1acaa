"""Where money changes on MongoDB: the steps of every money primitive of `MongoStore`.

Every money primitive (grant_once, deduct, adjust, reverse, and the welcome credits of
ensure_user) takes the same three steps, see `apply_change`:

1. reserve: insert its ledger entry in state `pending`. The ledger's UNIQUE `source_ref`
   makes exactly one caller the owner; any other gets DuplicateKeyError and replays the
   first entry. The ledger is permanent, so exactly-once never rests on a TTL'd document.
2. move the balance with one conditional single-document update: a deduction's filter is
   `{credits.<type>: {$gte: amount}}`, so it never goes below zero and loses no update.
3. finalise the entry (`balance_after`, state `applied`) and enqueue the plugin webhook;
   or, when the floor refused the change, delete the reservation.

Which guarantee holds depends on the server, detected in `MongoStore.open()` from `hello`:

* replica set or mongos (`MongoStore.transactions` True): the steps run inside ONE multi-document
  transaction (snapshot reads, majority commit), so they happen together or not at all;
  nobody else ever sees a pending entry.
* standalone server (`MongoStore.transactions` False): no transactions exist there, so each step
  is its own atomic single-document write. Exactly-once and never-below-zero still hold
  under any concurrency; all-or-nothing does not. A crash between steps 1 and 2 leaves a
  pending entry whose credits were never moved (reconcile() reports it with its
  source_ref), between 2 and 3 an entry without balance_after and possibly a lost plugin
  webhook; a crash inside reverse() after its claim can lose that reversal. Run a replica
  set (a single node will do) for money you care about.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from ..domain.models import (
    CREDIT_TYPES,
    Balances,
    LedgerEntry,
    NotifyFn,
    PurchaseCompletion,
    now_iso,
)
from .base import LEGACY_BUCKET, Targets
from .mongo_documents import (
    APPLIED,
    PENDING,
    balances_from,
    delivery_doc,
    entry_doc,
    new_balance_fields,
    new_delivery,
    new_transaction_id,
    to_date,
)
from .mongo_schema import CHECKOUT_SESSIONS

Session = AsyncClientSession | None
Doc = dict[str, Any]


async def balances_of(db: AsyncDatabase, s: Session, site_id: str, user_id: str) -> Balances:
    doc = await db.balances.find_one({"site_id": site_id, "user_id": user_id}, session=s)
    return balances_from(doc)


async def touch_user(db: AsyncDatabase, s: Session, site_id: str, user_id: str) -> None:
    """Create the user and its balances on first sight through a credit (no welcome credits
    then, as on SQLite), before the reservation, so step 2 finds its document."""
    key = {"site_id": site_id, "user_id": user_id}
    await db.users.update_one(
        key, {"$setOnInsert": {"email": None, "created_at": now_iso(), "welcomed": True}},
        upsert=True, session=s)
    await db.balances.update_one(
        key, {"$setOnInsert": {"credits": dict.fromkeys(CREDIT_TYPES, 0)}}, upsert=True,
        session=s)


async def move_balance(db: AsyncDatabase, s: Session, site_id: str, user_id: str,
                        credit_type: str, delta: int, floor: int | None) -> Doc | None:
    """Step 2: one atomic update of the balances document. With a floor, a decrease only
    matches a balance that stays at or above it; None when it did not match."""
    query: Doc = {"site_id": site_id, "user_id": user_id}
    guarded = floor is not None and delta < 0
    if guarded:
        query[f"credits.{credit_type}"] = {"$gte": floor - delta}
    return await db.balances.find_one_and_update(
        query,
        {"$inc": {f"credits.{credit_type}": delta},
         "$setOnInsert": new_balance_fields(credit_type)},
        upsert=not guarded, return_document=ReturnDocument.AFTER, session=s)


async def apply_change(
    db: AsyncDatabase,
    s: Session,
    *,
    site_id: str,
    user_id: str,
    credit_type: str,
    delta: int,
    source_ref: str,
    kind: str,
    floor: int | None,
    parent_ref: str | None = None,
    reason: str | None = None,
    meta: dict[str, Any] | None = None,
    notify: NotifyFn | None = None,
) -> tuple[LedgerEntry | None, Balances]:
    """Reserve, move, finalise (see the module docstring). Raises DuplicateKeyError when
    `source_ref` exists; answers (None, balances) when the floor refused the change."""
    entry = LedgerEntry(new_transaction_id(), site_id, user_id, credit_type, delta, 0, kind,
                        source_ref, parent_ref, reason, meta or {}, now_iso())
    if delta > 0:
        await touch_user(db, s, site_id, user_id)
    await db.ledger.insert_one(entry_doc(entry, state=PENDING), session=s)
    moved = await move_balance(db, s, site_id, user_id, credit_type, delta, floor)
    if moved is None:
        await db.ledger.delete_one({"source_ref": source_ref, "state": PENDING}, session=s)
        return None, await balances_of(db, s, site_id, user_id)
    balances = balances_from(moved)
    entry = replace(entry, balance_after=int(moved["credits"][credit_type]))
    await db.ledger.update_one(
        {"source_ref": source_ref},
        {"$set": {"balance_after": entry.balance_after, "state": APPLIED}}, session=s)
    if notify is not None and (draft := notify(entry, balances)) is not None:
        await db.webhook_outbox.insert_one(delivery_doc(new_delivery(draft)), session=s)
    return entry, balances


async def complete_purchase(db: AsyncDatabase, s: Session, purchase: PurchaseCompletion) -> None:
    """Mark a purchase record completed (whatever its status), keeping the payment intent
    and completion time it already has; inside the grant's transaction."""
    checkout = purchase.kind == "checkout"
    collection = db[CHECKOUT_SESSIONS] if checkout else db.payment_intents
    key = {"session_id" if checkout else "payment_intent_id": purchase.record_id}
    doc = await collection.find_one(key, session=s)
    if doc is None:
        return
    fields: Doc = {"status": "completed"}
    if not doc.get("completed_at"):
        # Sessions keep dates as BSON dates, intents as ISO strings.
        fields["completed_at"] = (to_date(purchase.completed_at) if checkout
                                  else purchase.completed_at)
    if checkout and purchase.payment_intent_id and not doc.get("payment_intent_id"):
        fields["payment_intent_id"] = purchase.payment_intent_id
    await collection.update_one(key, {"$set": fields}, session=s)


def reversal_targets(grant: Doc) -> Targets:
    """A grant's buckets as stored on its ledger document (`reversals`)."""
    stored = grant.get("reversals") or {}
    targets = {b: (int(v["target"]), int(v["version"])) for b, v in stored.items()}
    already = int(grant.get("reversed") or 0)
    if not targets and already:
        targets[LEGACY_BUCKET] = (already, already)  # reversed before buckets existed
    return targets
