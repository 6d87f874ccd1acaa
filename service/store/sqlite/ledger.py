"""Ledger rows and the running totals, written inside the caller's write transaction.

Invariant: every ledger entry is inserted with the totals it moves (`money_plan.entry_totals`),
in the same transaction, so `stats` never has to scan the ledger.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from ...domain.models import LedgerEntry
from ..money_plan import entry_totals

LEDGER_COLUMNS = (
    "transaction_id, site_id, user_id, credit_type, delta, balance_after, kind, source_ref,"
    " parent_ref, reason, meta, created_at"
)


def ledger_entry(row: tuple) -> LedgerEntry:
    (
        txn,
        site_id,
        user_id,
        credit_type,
        delta,
        after,
        kind,
        source_ref,
        parent_ref,
        reason,
        meta,
        created_at,
    ) = row
    return LedgerEntry(
        txn,
        site_id,
        user_id,
        credit_type,
        delta,
        after,
        kind,
        source_ref,
        parent_ref,
        reason,
        json.loads(meta),
        created_at,
    )


def add_totals(c: sqlite3.Connection, changes: Sequence[tuple[str, str, int]]) -> None:
    """Move the running totals (see `money_plan.entry_totals`), in the caller's transaction."""
    c.executemany(
        "INSERT INTO totals VALUES (?,?,?) ON CONFLICT (metric, key)"
        " DO UPDATE SET value = value + excluded.value",
        changes,
    )


def insert_entry(c: sqlite3.Connection, e: LedgerEntry) -> None:
    """Append one ledger entry and move the totals it moves, in the caller's transaction."""
    add_totals(c, entry_totals(e))
    c.execute(
        f"INSERT INTO ledger ({LEDGER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            e.transaction_id,
            e.site_id,
            e.user_id,
            e.credit_type,
            e.delta,
            e.balance_after,
            e.kind,
            e.source_ref,
            e.parent_ref,
            e.reason,
            json.dumps(e.meta) if e.meta else "{}",
            e.created_at,
        ),
    )
