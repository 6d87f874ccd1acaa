"""Ledger rows and the running totals, written inside the caller's write transaction.

Invariant: every ledger entry is inserted with the totals it moves (`money_plan.entry_totals`),
in the same transaction, so `stats` never has to scan the ledger.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence

from ...domain.models import LedgerEntry
from ..money_plan import entry_totals
from .rows import columns, from_row, slots, to_row

LEDGER_COLUMNS = columns(LedgerEntry)


def ledger_entry(row: tuple) -> LedgerEntry:
    return from_row(LedgerEntry, row, "meta")


def add_totals(c: sqlite3.Connection, changes: Sequence[tuple[str, str, int]]) -> None:
    """Move the running totals (see `money_plan.entry_totals`), in the caller's transaction,
    in one statement (every ledger entry moves two)."""
    if changes:
        c.execute(_add_totals_sql(len(changes)), [value for change in changes for value in change])


@functools.cache
def _add_totals_sql(rows: int) -> str:
    # Row by row, a pair repeated in one statement adds up as in separate ones.
    return (
        f"INSERT INTO totals VALUES {','.join(['(?,?,?)'] * rows)} ON CONFLICT (metric, key)"
        " DO UPDATE SET value = value + excluded.value"
    )


def insert_entry(c: sqlite3.Connection, e: LedgerEntry) -> None:
    """Append one ledger entry and move the totals it moves, in the caller's transaction."""
    add_totals(c, entry_totals(e))
    c.execute(f"INSERT INTO ledger ({LEDGER_COLUMNS}) VALUES ({slots(12)})", to_row(e, "meta"))
