"""Purchases on SQLite: checkout sessions, payment intents and the Stripe events seen.

Invariant: a purchase's revenue enters the running totals in the transaction that makes it
`completed`, and leaves them in the one that moves it away.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ...domain.models import CheckoutSession, PaymentIntentRecord, now_iso
from ..base import DuplicateError
from .connection import SQLiteConnection
from .ledger import add_totals
from .rows import R, columns, from_row, slots, to_row


class SQLitePayments(SQLiteConnection):
    """The checkout sessions, payment intents and Stripe events of `Store`."""

    async def _find(self, record_type: type[R], table: str, key: str, value: str) -> R | None:
        """The record of `table` whose `key` is `value`, if any."""
        rows = await self._run(
            self._read, f"SELECT {columns(record_type)} FROM {table} WHERE {key} = ?", (value,)
        )
        return from_row(record_type, rows[0]) if rows else None

    async def create_checkout_session(self, session: CheckoutSession) -> None:
        await self._insert_purchase("checkout_sessions", "session_id", session)

    async def _insert_purchase(
        self, table: str, key: str, record: CheckoutSession | PaymentIntentRecord
    ) -> None:
        """Insert a purchase record (DuplicateError for a taken `key`), its revenue counted in
        the same transaction when it is born completed."""

        def insert(c: sqlite3.Connection) -> None:
            row = to_row(record)
            try:
                c.execute(
                    f"INSERT INTO {table} ({columns(type(record))}) VALUES ({slots(len(row))})", row
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateError(key) from exc
            if record.status == "completed":
                add_totals(c, [("revenue", record.currency.upper(), record.amount)])

        await self._write(insert)

    async def get_checkout_session(self, session_id: str) -> CheckoutSession | None:
        return await self._find(CheckoutSession, "checkout_sessions", "session_id", session_id)

    async def get_checkout_session_by_payment_intent(
        self, payment_intent_id: str
    ) -> CheckoutSession | None:
        return await self._find(
            CheckoutSession, "checkout_sessions", "payment_intent_id", payment_intent_id
        )

    async def link_checkout_payment_intent(self, session_id: str, payment_intent_id: str) -> bool:
        def link(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "UPDATE checkout_sessions SET payment_intent_id = ?"
                " WHERE session_id = ? AND payment_intent_id IS NULL",
                (payment_intent_id, session_id),
            )
            return cur.rowcount == 1

        return await self._write(link)

    async def _transition(
        self,
        table: str,
        key: str,
        key_value: str,
        from_status: str,
        to_status: str,
        fields: dict[str, Any],
    ) -> bool:
        allowed = {"payment_intent_id", "completed_at", "url"}
        extra = {k: v for k, v in fields.items() if k in allowed}
        sets = ", ".join(["status = ?", *[f"{k} = ?" for k in extra]])

        def update(c: sqlite3.Connection) -> bool:
            changed = c.execute(
                f"UPDATE {table} SET {sets} WHERE {key} = ? AND status = ?"
                " RETURNING UPPER(currency), amount",
                (to_status, *extra.values(), key_value, from_status),
            ).fetchall()
            if changed and (from_status == "completed") != (to_status == "completed"):
                [(currency, amount)] = changed
                sign = 1 if to_status == "completed" else -1
                add_totals(c, [("revenue", currency, sign * int(amount))])
            return len(changed) == 1

        return await self._write(update)

    async def transition_checkout_session(
        self, session_id: str, from_status: str, to_status: str, fields: dict[str, Any]
    ) -> bool:
        return await self._transition(
            "checkout_sessions", "session_id", session_id, from_status, to_status, fields
        )

    async def create_payment_intent(self, intent: PaymentIntentRecord) -> None:
        await self._insert_purchase("payment_intents", "payment_intent_id", intent)

    async def get_payment_intent(self, payment_intent_id: str) -> PaymentIntentRecord | None:
        return await self._find(
            PaymentIntentRecord, "payment_intents", "payment_intent_id", payment_intent_id
        )

    async def stripe_event_seen(self, event_id: str) -> bool:
        rows = await self._run(
            self._read, "SELECT 1 FROM stripe_events WHERE event_id=?", (event_id,)
        )
        return bool(rows)

    async def stripe_event_outcome(self, event_id: str) -> str | None:
        rows = await self._run(
            self._read, "SELECT outcome FROM stripe_events WHERE event_id=?", (event_id,)
        )
        return str(rows[0][0]) if rows else None

    async def record_stripe_event(self, event_id: str, event_type: str, outcome: str) -> bool:
        def insert(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "INSERT OR IGNORE INTO stripe_events VALUES (?,?,?,?)",
                (event_id, event_type, outcome, now_iso()),
            )
            return cur.rowcount == 1

        return await self._write(insert)
