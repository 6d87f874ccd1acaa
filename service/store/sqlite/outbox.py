"""The plugin webhook outbox on SQLite: deliveries, their leases and attempts.

Invariant: a delivery is claimed by one lease owner at a time (one UPDATE ... RETURNING), and
an attempt is logged in the same transaction that releases its lease.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ...domain.models import (
    AttemptOutcome,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDraft,
    iso_from_unix,
)
from ..base import new_delivery
from .connection import SQLiteConnection
from .rows import columns

OUTBOX_COLUMNS = columns(WebhookDelivery, leave=("attempt_log",))


def _delivery(row: tuple, attempts: tuple[WebhookAttempt, ...] = ()) -> WebhookDelivery:
    return replace(WebhookDelivery(*row), attempt_log=attempts)


class SQLiteOutbox(SQLiteConnection):
    """The webhook outbox of `Store`."""

    def _enqueue(self, c: sqlite3.Connection, draft: WebhookDraft) -> WebhookDelivery:
        delivery = new_delivery(draft)
        c.execute(
            f"INSERT INTO webhook_outbox ({OUTBOX_COLUMNS}, lease_owner, lease_until)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                delivery.delivery_id,
                delivery.site_id,
                delivery.event,
                delivery.url,
                delivery.body,
                delivery.status,
                0,
                delivery.next_attempt_at,
                None,
                None,
                delivery.created_at,
                None,
                draft.lease_owner,
                draft.lease_until,
            ),
        )
        return delivery

    async def enqueue_webhook(self, draft: WebhookDraft) -> WebhookDelivery:
        return await self._write(lambda c: self._enqueue(c, draft))

    async def claim_due_webhooks(
        self, owner: str, *, now: float, lease_seconds: float, limit: int, include_scheduled: bool
    ) -> list[WebhookDelivery]:
        due = "" if include_scheduled else "AND next_attempt_at <= :now"

        def claim(c: sqlite3.Connection) -> list[WebhookDelivery]:
            rows = c.execute(
                f"""
                UPDATE webhook_outbox SET lease_owner = :owner, lease_until = :until
                WHERE delivery_id IN (
                    SELECT delivery_id FROM webhook_outbox
                    WHERE status = 'pending' {due}
                      AND (lease_until IS NULL OR lease_until < :now)
                    ORDER BY seq LIMIT :limit)
                RETURNING {OUTBOX_COLUMNS}
                """,
                {"owner": owner, "until": now + lease_seconds, "now": now, "limit": limit},
            ).fetchall()
            return [_delivery(r) for r in rows]

        return await self._write(claim)

    async def record_webhook_attempts(self, owner: str, outcomes: Sequence[AttemptOutcome]) -> None:
        if not outcomes:
            return
        attempts = [
            (
                o.delivery_id,
                o.attempt.attempt,
                o.attempt.at,
                o.attempt.status_code,
                o.attempt.error,
                o.attempt.duration_ms,
            )
            for o in outcomes
        ]
        releases = [
            (
                o.status,
                o.attempt.attempt,
                o.next_attempt_at,
                o.attempt.status_code,
                o.attempt.error,
                iso_from_unix(o.attempt.at) if o.delivered else None,
                o.delivery_id,
                owner,
            )
            for o in outcomes
        ]

        def record(c: sqlite3.Connection) -> None:
            c.executemany("INSERT INTO webhook_attempts VALUES (?,?,?,?,?,?)", attempts)
            c.executemany(
                "UPDATE webhook_outbox SET status=?, attempts=?, next_attempt_at=?,"
                " last_status_code=?, last_error=?, delivered_at=?, lease_owner=NULL,"
                " lease_until=NULL WHERE delivery_id=? AND lease_owner=?",
                releases,
            )

        await self._write(record)

    def _delivery_with_attempts(self, row: tuple) -> WebhookDelivery:
        assert self._rdb is not None
        attempts = tuple(
            WebhookAttempt(*a)
            for a in self._rdb.execute(
                "SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts"
                " WHERE delivery_id=? ORDER BY attempt",
                (row[0],),
            ).fetchall()
        )
        return _delivery(row, attempts)

    async def get_webhook_delivery(self, delivery_id: str) -> WebhookDelivery | None:
        def read() -> WebhookDelivery | None:
            rows = self._read(
                f"SELECT {OUTBOX_COLUMNS} FROM webhook_outbox WHERE delivery_id=?", (delivery_id,)
            )
            return self._delivery_with_attempts(rows[0]) if rows else None

        return await self._run(read)

    async def list_webhook_deliveries(
        self, site_id: str, *, limit: int = 50, offset: int = 0
    ) -> list[WebhookDelivery]:
        def read() -> list[WebhookDelivery]:
            rows = self._read(
                f"SELECT {OUTBOX_COLUMNS} FROM webhook_outbox WHERE site_id=?"
                " ORDER BY seq DESC LIMIT ? OFFSET ?",
                (site_id, limit, offset),
            )
            return [self._delivery_with_attempts(r) for r in rows]

        return await self._run(read)

    async def retry_webhook_delivery(
        self, delivery_id: str, *, now: float
    ) -> WebhookDelivery | None:
        def retry(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE webhook_outbox SET status='pending', next_attempt_at=?,"
                " delivered_at=NULL WHERE delivery_id=?",
                (now, delivery_id),
            )

        await self._write(retry)
        return await self.get_webhook_delivery(delivery_id)

    async def prune_webhooks(self, delivered_before: float, *, batch: int = 200) -> int:
        cutoff = iso_from_unix(delivered_before)

        def prune(c: sqlite3.Connection) -> int:
            ids = c.execute(
                "SELECT delivery_id FROM webhook_outbox WHERE status = 'delivered'"
                " AND delivered_at < ? ORDER BY delivered_at LIMIT ?",
                (cutoff, batch),
            ).fetchall()
            c.executemany("DELETE FROM webhook_attempts WHERE delivery_id = ?", ids)
            c.executemany("DELETE FROM webhook_outbox WHERE delivery_id = ?", ids)
            return len(ids)

        pruned = 0
        while True:  # one writer job per batch: queued requests go between them
            deleted = await self._write(prune)
            pruned += deleted
            if deleted < batch:
                return pruned

    async def count_pending_webhooks(self) -> int:
        rows = await self._run(
            self._read, "SELECT COUNT(*) FROM webhook_outbox WHERE status='pending'"
        )
        return int(rows[0][0])

    async def outbox_backlog(self) -> dict[str, Any]:
        rows = await self._run(
            self._read,
            "SELECT status, COUNT(*), MIN(created_at) FROM webhook_outbox"
            " WHERE status IN ('pending', 'failed') GROUP BY status",
        )
        found = {status: (int(count), oldest) for status, count, oldest in rows}
        return {
            "pending": found.get("pending", (0, None))[0],
            "failed": found.get("failed", (0, None))[0],
            "oldest_pending_at": found.get("pending", (0, None))[1],
        }
