"""What money primitives write, decided from what they read: the one set of rules both adapters
follow (SQLite in `sqlite/money.py`, MongoDB in `mongo/money.py`).

Invariant: nothing here reads or writes a database. An adapter reads the rows or documents
inside its transaction, asks these functions what to write (a `Change`: one balance move and
its ledger entry; reversal targets; running totals) and writes exactly that, so both stores
grant, deduct, replay and reverse by the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..domain.ids import ordered_hex
from ..domain.models import CREDIT_TYPES, LedgerEntry, now_iso
from .errors import IdempotencyKeyReused


def new_transaction_id() -> str:
    return "txn_" + ordered_hex(12)


@dataclass(frozen=True)
class Change:
    """One balance change and the ledger entry that records it, as an adapter applies it in
    its transaction. `floor`: a decrease that would leave less is refused, writing nothing.
    `fresh_ref`: the source_ref was made for this change just now (a keyless deduction), so
    no entry can hold it yet and an adapter need not look one up (the ledger's unique index
    still guards it)."""

    site_id: str
    user_id: str
    credit_type: str
    delta: int
    source_ref: str
    kind: str
    floor: int | None = None
    parent_ref: str | None = None
    reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    fresh_ref: bool = False

    def least_before(self) -> int | None:
        """The balance the change needs before it (None: any balance will do)."""
        if self.floor is None or self.delta >= 0:
            return None
        return self.floor - self.delta

    def entry(self, balance_after: int) -> LedgerEntry:
        """The ledger entry of this change, once the balance is `balance_after`."""
        return LedgerEntry(
            new_transaction_id(),
            self.site_id,
            self.user_id,
            self.credit_type,
            self.delta,
            balance_after,
            self.kind,
            self.source_ref,
            self.parent_ref,
            self.reason,
            self.meta,
            now_iso(),
        )


def welcome_changes(site_id: str, user_id: str, free_credits: dict[str, int]) -> list[Change]:
    """A new user's welcome credits: one `free` grant per credit type that has any, each
    exactly-once by its source_ref."""
    return [
        Change(
            site_id,
            user_id,
            credit_type,
            int(free_credits[credit_type]),
            f"free:{site_id}:{user_id}:{credit_type}",
            "free",
            reason="welcome credits",
        )
        for credit_type in CREDIT_TYPES
        if int(free_credits.get(credit_type, 0))
    ]


def deduct_ref(site_id: str, user_id: str, idempotency_key: str | None) -> str:
    """A deduction's source_ref: its key scoped to the site's user, or a fresh one. Without a
    key, a client's retry of the request is a new deduction (see openapi.yaml)."""
    if idempotency_key:
        return f"deduct:{site_id}:{user_id}:{idempotency_key}"
    return f"deduct:{ordered_hex(12)}"


def same_request(
    first: LedgerEntry, *, user_id: str, credit_type: str, delta: int, reason: str | None
) -> bool:
    """Whether a repeated key asks for what its first entry did. The entry, written with the
    key's reservation, holds the request's whole fingerprint: user, type, amount, reason."""
    return (first.user_id, first.credit_type, first.delta, first.reason) == (
        user_id,
        credit_type,
        delta,
        reason,
    )


def check_repeat(first: LedgerEntry, change: Change) -> None:
    """Refuse (IdempotencyKeyReused) a repeated source_ref that asks for other than what its
    first entry did: another site, user, type, amount or reason."""
    if first.site_id != change.site_id or not same_request(
        first,
        user_id=change.user_id,
        credit_type=change.credit_type,
        delta=change.delta,
        reason=change.reason,
    ):
        raise IdempotencyKeyReused(change.source_ref)


# ---------------------------------------------------------------------------- reversals


@dataclass(frozen=True)
class ReversedGrant:
    """What refunds and disputes took back from one purchase grant, as the ledger says."""

    grant_meta: dict[str, Any]  # the purchase's `amount` and `currency`
    granted: int  # credits the purchase granted
    reversed: int  # credits its reversal and restore entries took back, net
    amount_reversed: int | None  # money given back, when every entry recorded its bucket's


def fold_reversals(
    entries: Iterable[tuple[str, int, dict[str, Any]]],
) -> dict[str, tuple[int, int | None]]:
    """Per grant, from its reversal and restore entries (`parent_ref`, `delta`, `meta`, oldest
    first): the credits taken back, net, and the money: the latest `amount_reversed` of each
    bucket (refunds; each dispute), summed; None when an entry recorded no amount."""
    credits: dict[str, int] = {}
    money: dict[str, dict[str, int] | None] = {}
    for parent_ref, delta, meta in entries:
        credits[parent_ref] = credits.get(parent_ref, 0) - delta
        buckets = money.setdefault(parent_ref, {})
        amount = meta.get("amount_reversed")
        if buckets is None or not isinstance(amount, int):
            money[parent_ref] = None
            continue
        buckets[str(meta.get("bucket", LEGACY_BUCKET))] = amount
    return {
        ref: (taken, None if (b := money[ref]) is None else sum(b.values()))
        for ref, taken in credits.items()
    }


def money_returned(r: ReversedGrant) -> tuple[str, int] | None:
    """The currency and money a reversed purchase gave back: the recorded `amount_reversed`,
    else the purchase's amount in proportion to the credits reversed; None when the grant was
    not a purchase (no money to take back)."""
    amount, currency = r.grant_meta.get("amount"), r.grant_meta.get("currency")
    if not isinstance(amount, int) or not currency or r.granted <= 0:
        return None
    returned = (
        r.amount_reversed
        if r.amount_reversed is not None
        else amount * min(r.reversed, r.granted) // r.granted
    )
    return str(currency).upper(), min(max(returned, 0), amount)


def net_revenue(gross: dict[str, int], reversals: list[ReversedGrant]) -> dict[str, int]:
    """Revenue per currency less the money each reversed purchase gave back
    (`money_returned`)."""
    net = dict(gross)
    for r in reversals:
        if (given_back := money_returned(r)) is not None:
            key, returned = given_back
            net[key] = net.get(key, 0) - returned
    return net


def entry_totals(entry: LedgerEntry) -> list[tuple[str, str, int]]:
    """What one new ledger entry adds to the totals."""
    return [
        ("credits", f"{entry.kind}:{entry.credit_type}", entry.delta),
        ("entries", entry.kind, 1),
    ]


def revenue_change(
    grant_meta: dict[str, Any],
    granted: int,
    before: Sequence[tuple[int, dict[str, Any]]],
    entry: LedgerEntry,
) -> tuple[str, int] | None:
    """How much a grant's net revenue moves when `entry` (a reversal or restore) joins its
    earlier reversal entries `before` ((delta, meta), oldest first): (currency, change), the
    change <= 0 when more money is given back; None when the grant was not a purchase."""

    def returned(entries: Sequence[tuple[int, dict[str, Any]]]) -> tuple[str, int] | None:
        taken, amount = fold_reversals(("g", d, m) for d, m in entries)["g"]
        return money_returned(ReversedGrant(grant_meta, granted, taken, amount))

    after = returned([*before, (entry.delta, entry.meta)])
    if after is None:
        return None
    was = returned(before) if before else None
    return after[0], (was[1] if was else 0) - after[1]


#: The bucket of reversal entries stored without one (in databases from before buckets:
#: refunds or disputes that only ever grew).
LEGACY_BUCKET = "refund"

Targets = dict[str, tuple[int, int]]  # bucket -> (target credits, version)


def next_targets(targets: Targets, bucket: str, credits: int, version: int | None) -> Targets:
    """The buckets after one report: it replaces its bucket's target unless the bucket holds
    a newer report (higher version). Version None is `credits`: a target that only grows."""
    version = credits if version is None else version
    current = targets.get(bucket)
    if current is not None and current[1] > version:
        return dict(targets)
    return {**targets, bucket: (max(credits, 0), version)}


def reversed_total(granted: int, targets: Targets) -> int:
    """How much of a grant its buckets take back together: never more than was granted."""
    return max(0, min(granted, sum(target for target, _ in targets.values())))


@dataclass(frozen=True)
class Reversal:
    """One refund or dispute report (`Store.reverse`): `bucket`'s cumulative target for the
    grant of `grant_ref`, as of `version` (None: the target itself, which only grows)."""

    grant_ref: str
    credits: int
    reason: str
    bucket: str = "refund"
    version: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReversalPlan:
    """What one refund or dispute report does to a grant: its buckets' targets after the
    report, and the reversed total they ask for against the one already taken."""

    stored: Targets
    targets: Targets
    wanted: int
    already: int

    def changed_targets(self) -> Targets:
        """The buckets whose target or version the report changed."""
        return {b: tv for b, tv in self.targets.items() if self.stored.get(b) != tv}

    def change(self, grant: LedgerEntry, number: int, report: Reversal) -> Change | None:
        """The grant's `number`th reversal or restore entry; None when the total stands."""
        delta = self.already - self.wanted
        if delta == 0:
            return None
        return Change(
            grant.site_id,
            grant.user_id,
            grant.credit_type,
            delta,
            f"{grant.source_ref}#{number}",
            "reversal" if delta < 0 else "restore",
            parent_ref=grant.source_ref,
            reason=report.reason,
            meta={**report.meta, "reversed_total": self.wanted, "bucket": report.bucket},
        )


def plan_reversal(granted: int, stored: Targets, already: int, report: Reversal) -> ReversalPlan:
    """The plan for one report on a grant of `granted` credits whose buckets hold `stored` and
    whose reversal entries took back `already`."""
    if not stored and already:
        stored = {LEGACY_BUCKET: (already, already)}  # reversed before buckets existed
    targets = next_targets(stored, report.bucket, report.credits, report.version)
    return ReversalPlan(stored, targets, reversed_total(granted, targets), already)
