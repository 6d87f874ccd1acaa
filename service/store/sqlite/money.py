"""Where money changes on SQLite: grants, deductions, adjustments and reversals.

Invariant: every money primitive runs in one `BEGIN IMMEDIATE` transaction on the writer's
thread, so concurrent callers (threads or processes) serialise on the write lock. Exactly-once
comes from the ledger's UNIQUE `source_ref`, checked inside that same transaction. What to
write is decided by `money_plan`, the same rules MongoDB follows.
"""

from __future__ import annotations

import json
import sqlite3

from ...domain.models import (
    Balances,
    DeductResult,
    LedgerEntry,
    MoneyResult,
    NotifyFn,
    PurchaseCompletion,
    UserSeed,
)
from ..base import Store, UnknownGrantError
from ..money_plan import Change, Reversal, check_repeat, plan_reversal, revenue_change
from .ledger import LEDGER_COLUMNS, add_totals, insert_entry, ledger_entry
from .outbox import SQLiteOutbox
from .users import SQLiteUsers


class SQLiteMoney(SQLiteUsers, SQLiteOutbox, Store):
    """The money primitives and ledger of `Store`."""

    def _entry_by_ref(self, c: sqlite3.Connection, source_ref: str) -> LedgerEntry | None:
        row = c.execute(
            f"SELECT {LEDGER_COLUMNS} FROM ledger WHERE source_ref=?", (source_ref,)
        ).fetchone()
        return ledger_entry(row) if row else None

    def _apply(
        self,
        c: sqlite3.Connection,
        change: Change,
        notify: NotifyFn | None = None,
        values: dict[str, int] | None = None,
    ) -> tuple[LedgerEntry | None, Balances]:
        """Change one balance and append its ledger entry, inside the caller's transaction;
        `values`: the user's balances when the caller just read them in it. Answers (None,
        balances) when the floor forbids the change."""
        site_id, user_id, credit_type = change.site_id, change.user_id, change.credit_type
        # A user's balance rows are made with the user: none means no user yet.
        if values is None:
            values = self._balance_values(c, site_id, user_id)
        if not values:
            if (
                c.execute(
                    "SELECT 1 FROM users WHERE site_id=? AND user_id=?", (site_id, user_id)
                ).fetchone()
                is None
            ):
                self._create_user(c, site_id, user_id, None, {})
            values = self._balance_values(c, site_id, user_id)
        least = change.least_before()
        if least is not None and values.get(credit_type, 0) < least:
            return None, Balances.from_mapping(values)
        after = values.get(credit_type, 0) + change.delta
        c.execute(
            "INSERT INTO balances VALUES (?,?,?,?) ON CONFLICT (site_id, user_id, credit_type)"
            " DO UPDATE SET balance = excluded.balance",
            (site_id, user_id, credit_type, after),
        )
        values[credit_type] = after
        entry = change.entry(after)
        insert_entry(c, entry)
        balances = Balances.from_mapping(values)
        if notify is not None:
            draft = notify(entry, balances)
            if draft is not None:
                self._enqueue(c, draft)
        return entry, balances

    async def _grant(
        self,
        grant: Change,
        notify: NotifyFn | None = None,
        purchase: PurchaseCompletion | None = None,
    ) -> MoneyResult:
        def apply(c: sqlite3.Connection) -> MoneyResult:
            if purchase is not None:
                self._complete(c, purchase)
            first = self._entry_by_ref(c, grant.source_ref)
            if first is not None:
                return MoneyResult(False, first, self._balances(c, first.site_id, first.user_id))
            entry, balances = self._apply(c, grant, notify)
            return MoneyResult(True, entry, balances)

        return await self._write(apply)

    @staticmethod
    def _complete(c: sqlite3.Connection, purchase: PurchaseCompletion) -> None:
        """Mark the purchase record completed, keeping a payment intent or time it has."""
        table, key = (
            ("checkout_sessions", "session_id")
            if purchase.kind == "checkout"
            else ("payment_intents", "payment_intent_id")
        )
        row = c.execute(
            f"SELECT UPPER(currency), amount FROM {table} WHERE {key} = ? AND status != 'completed'",
            (purchase.record_id,),
        ).fetchone()
        if row is not None:
            add_totals(c, [("revenue", row[0], int(row[1]))])
        if purchase.kind == "checkout":
            c.execute(
                "UPDATE checkout_sessions SET status = 'completed',"
                " completed_at = COALESCE(completed_at, ?),"
                " payment_intent_id = COALESCE(payment_intent_id, ?) WHERE session_id = ?",
                (purchase.completed_at, purchase.payment_intent_id, purchase.record_id),
            )
        else:
            c.execute(
                "UPDATE payment_intents SET status = 'completed',"
                " completed_at = COALESCE(completed_at, ?) WHERE payment_intent_id = ?",
                (purchase.completed_at, purchase.record_id),
            )

    async def _covered(
        self, change: Change, notify: NotifyFn | None, ensure: UserSeed | None = None
    ) -> DeductResult:
        return await self._write(lambda c: self._cover(c, change, notify, ensure))

    def _cover(
        self,
        c: sqlite3.Connection,
        change: Change,
        notify: NotifyFn | None,
        ensure: UserSeed | None,
    ) -> DeductResult:
        """`_covered` in the writer's transaction: the user ensured in it too."""
        values = None
        if ensure is not None:
            values = self._ensure_user(c, change.site_id, change.user_id, ensure)
        first = None if change.fresh_ref else self._entry_by_ref(c, change.source_ref)
        if first is not None:
            check_repeat(first, change)
            balances = self._balances(c, change.site_id, change.user_id)
            return DeductResult(True, first, balances, True)
        entry, balances = self._apply(c, change, notify, values)
        return DeductResult(entry is not None, entry, balances)

    async def _reverse(self, report: Reversal, notify: NotifyFn | None) -> MoneyResult:
        grant_ref = report.grant_ref

        def reverse(c: sqlite3.Connection) -> MoneyResult:
            grant = self._entry_by_ref(c, grant_ref)
            if grant is None:
                raise UnknownGrantError(grant_ref)
            before = [
                (int(d), json.loads(m))
                for d, m in c.execute(
                    "SELECT delta, meta FROM ledger WHERE parent_ref=? ORDER BY seq", (grant_ref,)
                )
            ]
            stored = {
                b: (t, v)
                for b, t, v in c.execute(
                    "SELECT bucket, target, version FROM reversal_targets WHERE grant_ref=?",
                    (grant_ref,),
                )
            }
            already = -sum(d for d, _ in before)
            plan = plan_reversal(grant.delta, stored, already, report)
            c.executemany(
                "INSERT OR REPLACE INTO reversal_targets VALUES (?,?,?,?)",
                [(grant_ref, b, t, v) for b, (t, v) in plan.changed_targets().items()],
            )
            change = plan.change(grant, len(before) + 1, report)
            if change is None:
                return MoneyResult(False, None, self._balances(c, grant.site_id, grant.user_id))
            entry, balances = self._apply(c, change, notify)
            assert entry is not None  # no floor: always applied
            if (revenue := revenue_change(grant.meta, grant.delta, before, entry)) is not None:
                add_totals(c, [("revenue", *revenue)])
            return MoneyResult(True, entry, balances)

        return await self._write(reverse)

    async def get_ledger_entry(self, source_ref: str) -> LedgerEntry | None:
        def read() -> LedgerEntry | None:
            assert self._rdb is not None
            return self._entry_by_ref(self._rdb, source_ref)

        return await self._run(read)

    async def _ledger_page(
        self, given: dict[str, str], limit: int, offset: int
    ) -> list[LedgerEntry]:
        where = " AND ".join(["1", *(f"{field} = ?" for field in given)])
        rows = await self._run(
            self._read,
            f"SELECT {LEDGER_COLUMNS} FROM ledger WHERE {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
            (*given.values(), limit, offset),
        )
        return [ledger_entry(r) for r in rows]
