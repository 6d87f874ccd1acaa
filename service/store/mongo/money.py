"""Where money changes on MongoDB: the steps of every money primitive of `MongoStore`.

Every money primitive (grant_once, deduct, adjust, reverse, and the welcome credits of
ensure_user) runs inside ONE multi-document transaction (`MongoStore._atomic`: snapshot
reads, majority commit, primary), so its steps happen together or not at all and nobody
else ever sees them half done. `MongoStore.open()` refuses a server without transactions
(a standalone), so there is no other way money moves. See `apply_change`:

1. move the balance with one conditional update: a decrease under a floor matches only
   `{credits.<type>: {$gte: floor + amount}}`, so it never goes below zero;
2. insert the ledger entry with its `balance_after`. The ledger's UNIQUE `source_ref` makes
   exactly one caller the owner: any other gets DuplicateKeyError (or a write conflict,
   which `with_transaction` retries) and its transaction, balance move included, aborts;
3. enqueue the plugin webhook in the outbox;
4. move the running totals `stats` reads (`add_totals`).

A transaction may run more than once (`with_transaction` retries it on a transient error),
so every step here is safe to redo from the start: nothing is kept between attempts.

Only `applied` ledger entries are answers (replays, lookups, reversals). A `pending` one is
a leftover of an earlier version's step-by-step path that may or may not have moved its
balance: `open()` refuses to start while any exists (`pending_entries_refusal`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ...domain.models import (
    CREDIT_TYPES,
    Balances,
    DeductResult,
    LedgerEntry,
    MoneyResult,
    NotifyFn,
    PurchaseCompletion,
    User,
    UserSeed,
    now_iso,
)
from ..base import Store, StoreError, UnknownGrantError, new_delivery
from ..money_plan import (
    Change,
    Reversal,
    ReversalPlan,
    check_repeat,
    entry_totals,
    plan_reversal,
    revenue_change,
    welcome_changes,
)
from .connection import Doc, Session
from .documents import (
    APPLIED,
    NEWEST_FIRST,
    OLDEST_FIRST,
    PENDING,
    applied_entry,
    balances_from,
    delivery_doc,
    entry_doc,
    entry_from,
    new_balance_fields,
    to_date,
)
from .schema import CHECKOUT_SESSIONS
from .users import MongoUsers, balances_of

#: Each running total is spread over this many documents, one picked at random per write:
#: concurrent transactions that moved one single document would conflict and retry.
TOTALS_SHARDS = 16


async def add_totals(
    db: AsyncDatabase, s: Session, changes: Sequence[tuple[str, str, int]]
) -> None:
    """Move running totals (see `base.entry_totals`), in the transaction of `s`."""
    shard = random.randrange(TOTALS_SHARDS)
    await db.totals.bulk_write(
        [
            UpdateOne(
                {"_id": f"{metric}|{key}|{shard}"},
                {"$inc": {"value": value}, "$setOnInsert": {"metric": metric, "key": key}},
                upsert=True,
            )
            for metric, key, value in changes
        ],
        session=s,
    )


#: How many pending source_refs the start-up refusal names.
PENDING_NAMED = 10


async def pending_entries_refusal(db: AsyncDatabase) -> str | None:
    """Why the store cannot start while `pending` ledger entries exist, naming them and what
    to do; None when there are none."""
    cursor = db.ledger.find({"state": PENDING}, {"source_ref": 1}).limit(PENDING_NAMED)
    refs = [d.get("source_ref") async for d in cursor]
    if not refs:
        return None
    return (
        f"the ledger of {db.name} holds entries left 'pending' by an earlier version of this"
        f" service (source_ref {', '.join(map(repr, refs))}"
        f"{' and more' if len(refs) == PENDING_NAMED else ''}); each may or may not have moved"
        " its user's balance. For each, compare the balance with the sum of the user's"
        " applied entries: if the balance moved, set {state: 'applied', balance_after: <the"
        " balance after it>}; if not, delete the entry (its grant or deduction runs again"
        " when retried). Then restart."
    )


async def touch_user(db: AsyncDatabase, s: Session, site_id: str, user_id: str) -> None:
    """Create the user and its balances on first sight through a credit (no welcome credits
    then, as on SQLite), so step 1 finds its document."""
    key = {"site_id": site_id, "user_id": user_id}
    await db.users.update_one(
        key,
        {"$setOnInsert": {"email": None, "created_at": now_iso(), "welcomed": True}},
        upsert=True,
        session=s,
    )
    await db.balances.update_one(
        key, {"$setOnInsert": {"credits": dict.fromkeys(CREDIT_TYPES, 0)}}, upsert=True, session=s
    )


async def move_balance(db: AsyncDatabase, s: Session, change: Change) -> Doc | None:
    """Step 1: one atomic update of the balances document. With a floor, a decrease only
    matches a balance that stays at or above it; None when it did not match."""
    query: Doc = {"site_id": change.site_id, "user_id": change.user_id}
    field = f"credits.{change.credit_type}"
    least = change.least_before()
    if least is not None:
        query[field] = {"$gte": least}
    return await db.balances.find_one_and_update(
        query,
        {"$inc": {field: change.delta}, "$setOnInsert": new_balance_fields(change.credit_type)},
        upsert=least is None,
        return_document=ReturnDocument.AFTER,
        session=s,
    )


async def apply_change(
    db: AsyncDatabase, s: AsyncClientSession, change: Change, notify: NotifyFn | None = None
) -> tuple[LedgerEntry | None, Balances]:
    """Move, record, notify (see the module docstring), inside the transaction of `s`.
    Raises DuplicateKeyError when its `source_ref` exists; answers (None, balances) when the
    floor refused the change, having written nothing."""
    if not s.in_transaction:
        raise RuntimeError("money moves only inside a transaction (MongoStore._atomic)")
    if change.delta > 0:
        await touch_user(db, s, change.site_id, change.user_id)
    moved = await move_balance(db, s, change)
    if moved is None:
        return None, await balances_of(db, s, change.site_id, change.user_id)
    balances = balances_from(moved)
    entry = change.entry(int(moved["credits"][change.credit_type]))
    await db.ledger.insert_one(entry_doc(entry, state=APPLIED), session=s)
    await add_totals(db, s, entry_totals(entry))
    if notify is not None and (draft := notify(entry, balances)) is not None:
        await db.webhook_outbox.insert_one(delivery_doc(new_delivery(draft), draft), session=s)
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
    if doc.get("status") != "completed":
        await add_totals(db, s, [("revenue", str(doc["currency"]).upper(), int(doc["amount"]))])
    fields: Doc = {"status": "completed"}
    if not doc.get("completed_at"):
        # Sessions keep dates as BSON dates, intents as ISO strings.
        fields["completed_at"] = (
            to_date(purchase.completed_at) if checkout else purchase.completed_at
        )
    if checkout and purchase.payment_intent_id and not doc.get("payment_intent_id"):
        fields["payment_intent_id"] = purchase.payment_intent_id
    await collection.update_one(key, {"$set": fields}, session=s)


def reversal_plan(grant: Doc, report: Reversal) -> ReversalPlan:
    """`plan_reversal` on a grant's ledger document, whose `reversals` hold its buckets and
    `reversed` the total its entries took back."""
    stored = grant.get("reversals") or {}
    targets = {b: (int(v["target"]), int(v["version"])) for b, v in stored.items()}
    already = int(grant.get("reversed") or 0)
    return plan_reversal(int(grant["delta"]), targets, already, report)


class MongoMoney(MongoUsers, Store):
    """The money primitives and ledger of `Store` (and `ensure_user`: welcome credits are grants)."""

    async def ensure_user(
        self, site_id: str, user_id: str, email: str | None, free_credits: dict[str, int]
    ) -> User:
        key = {"site_id": site_id, "user_id": user_id}
        doc = await self.db.users.find_one(key)
        if doc is None:
            try:
                await self.db.users.insert_one(
                    {**key, "email": email, "created_at": now_iso(), "welcomed": False}
                )
            except DuplicateKeyError:
                pass  # a concurrent first sight created it
            doc = await self.db.users.find_one(key)
            assert doc is not None
        if not doc.get("welcomed", True):
            # Each welcome grant is exactly-once by its source_ref, so a caller that finds
            # the flag still down (a concurrent first sight, or a crash) may safely redo them.
            for change in welcome_changes(site_id, user_id, free_credits):
                await self._grant(change)
            await self.db.users.update_one(key, {"$set": {"welcomed": True}})
        if email and email != doc.get("email"):
            await self.db.users.update_one(key, {"$set": {"email": email}})
        user = await self.get_user(site_id, user_id)
        assert user is not None
        return user

    async def _grant(
        self,
        grant: Change,
        notify: NotifyFn | None = None,
        purchase: PurchaseCompletion | None = None,
    ) -> MoneyResult:

        async def apply(s: AsyncClientSession) -> MoneyResult:
            if purchase is not None:
                await complete_purchase(self.db, s, purchase)
            entry, balances = await apply_change(self.db, s, grant, notify)
            return MoneyResult(True, entry, balances)

        async def replay(s: Session, first: LedgerEntry) -> MoneyResult:
            if purchase is not None:
                await complete_purchase(self.db, s, purchase)
            balances = await balances_of(self.db, s, first.site_id, first.user_id)
            return MoneyResult(False, first, balances)

        return await self._once(grant.source_ref, apply, replay)

    async def _covered(
        self, change: Change, notify: NotifyFn | None, ensure: UserSeed | None = None
    ) -> DeductResult:
        if ensure is not None:
            # Its own writes, before the change's (ensure_user's are idempotent already).
            await self.ensure_user(
                change.site_id, change.user_id, ensure.email, ensure.free_credits
            )

        async def apply(s: AsyncClientSession) -> DeductResult:
            entry, balances = await apply_change(self.db, s, change, notify)
            return DeductResult(entry is not None, entry, balances)

        async def replay(s: Session, first: LedgerEntry) -> DeductResult:
            check_repeat(first, change)
            balances = await balances_of(self.db, s, change.site_id, change.user_id)
            return DeductResult(True, first, balances, replayed=True)

        return await self._once(change.source_ref, apply, replay)

    async def _reverse(self, report: Reversal, notify: NotifyFn | None) -> MoneyResult:
        grant_ref = report.grant_ref

        async def take_back(s: AsyncClientSession) -> MoneyResult:
            for _ in range(100):
                doc = await self.db.ledger.find_one({"source_ref": grant_ref}, session=s)
                if doc is None:
                    raise UnknownGrantError(grant_ref)
                grant = applied_entry(doc)  # a legacy pending grant gave nothing to take back
                plan = reversal_plan(doc, report)
                revision = int(doc.get("revision") or 0)
                # Compare-and-set on the grant itself: concurrent reports serialise here.
                changed = await self.db.ledger.update_one(
                    {"source_ref": grant_ref, "revision": doc.get("revision")},
                    {
                        "$set": {
                            "reversed": plan.wanted,
                            "revision": revision + 1,
                            "reversals": {
                                b: {"target": t, "version": v} for b, (t, v) in plan.targets.items()
                            },
                        }
                    },
                    session=s,
                )
                if changed.matched_count == 1:
                    break
            else:
                raise StoreError(f"could not settle the reversals of {grant_ref!r}")
            change = plan.change(grant, revision + 1, report)
            if change is None:
                balances = await balances_of(self.db, s, grant.site_id, grant.user_id)
                return MoneyResult(False, None, balances)
            before = [
                (int(d["delta"]), d.get("meta") or {})
                async for d in self.db.ledger.find({"parent_ref": grant_ref}, session=s).sort(
                    OLDEST_FIRST
                )
            ]
            entry, balances = await apply_change(self.db, s, change, notify)
            assert entry is not None  # no floor: always applied
            if (revenue := revenue_change(grant.meta, grant.delta, before, entry)) is not None:
                await add_totals(self.db, s, [("revenue", *revenue)])
            return MoneyResult(True, entry, balances)

        return await self._atomic(take_back)

    async def get_ledger_entry(self, source_ref: str) -> LedgerEntry | None:
        doc = await self.db.ledger.find_one({"source_ref": source_ref})
        return applied_entry(doc) if doc else None

    async def _ledger_page(
        self, given: dict[str, str], limit: int, offset: int
    ) -> list[LedgerEntry]:
        cursor = self.db.ledger.find(given).sort(NEWEST_FIRST).skip(offset).limit(limit)
        return [entry_from(d) async for d in cursor]
