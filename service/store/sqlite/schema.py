"""The SQLite schema, as an ordered list of migrations applied on start: SQL scripts, or
functions of the connection for what SQL alone cannot compute (run in the opening's write
transaction, like the scripts). From 3 on they may run again: a version from before them,
opening the file, sets `schema_version` back to its own count."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from ..base import Totals
from ..money_plan import ReversedGrant, fold_reversals, net_revenue

Migration = str | Callable[[sqlite3.Connection], None]

#: What checkout sessions and payment intents both hold (migration 1's tables).
PURCHASE_COLUMNS = """\
        site_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        user_email TEXT,
        package_id TEXT NOT NULL,
        credit_type TEXT NOT NULL,
        credits INTEGER NOT NULL,
        amount INTEGER NOT NULL,
        currency TEXT NOT NULL,
        status TEXT NOT NULL,"""

MIGRATIONS: list[Migration] = [
    # 1: everything the service persists
    f"""
    CREATE TABLE sites (
        site_id TEXT PRIMARY KEY,
        instance_id TEXT NOT NULL UNIQUE,
        site_url TEXT NOT NULL,
        admin_email TEXT NOT NULL,
        token_hash TEXT NOT NULL,
        webhook_secret TEXT NOT NULL,
        status TEXT NOT NULL,
        disabled_reason TEXT,
        metadata TEXT NOT NULL,
        config TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE users (
        site_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        email TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (site_id, user_id)
    );
    CREATE TABLE balances (
        site_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        credit_type TEXT NOT NULL,
        balance INTEGER NOT NULL,
        PRIMARY KEY (site_id, user_id, credit_type)
    );
    CREATE TABLE ledger (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        transaction_id TEXT NOT NULL UNIQUE,
        site_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        credit_type TEXT NOT NULL,
        delta INTEGER NOT NULL,
        balance_after INTEGER NOT NULL,
        kind TEXT NOT NULL,
        source_ref TEXT NOT NULL UNIQUE,
        parent_ref TEXT,
        reason TEXT,
        meta TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX ledger_by_user ON ledger (site_id, user_id, seq);
    CREATE INDEX ledger_by_parent ON ledger (parent_ref);
    CREATE TABLE packages (
        package_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        credit_type TEXT NOT NULL,
        credits INTEGER NOT NULL,
        price INTEGER NOT NULL,
        currency TEXT NOT NULL,
        description TEXT NOT NULL,
        is_popular INTEGER NOT NULL,
        active INTEGER NOT NULL,
        sort_order INTEGER NOT NULL
    );
    CREATE TABLE checkout_sessions (
        session_id TEXT PRIMARY KEY,
{PURCHASE_COLUMNS}
        url TEXT,
        payment_intent_id TEXT,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        completed_at TEXT
    );
    CREATE INDEX checkout_by_site_user ON checkout_sessions (site_id, user_id);
    CREATE INDEX checkout_by_intent ON checkout_sessions (payment_intent_id);
    CREATE TABLE payment_intents (
        payment_intent_id TEXT PRIMARY KEY,
{PURCHASE_COLUMNS}
        created_at TEXT NOT NULL,
        completed_at TEXT
    );
    CREATE TABLE stripe_events (
        event_id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        outcome TEXT NOT NULL,
        processed_at TEXT NOT NULL
    );
    CREATE TABLE webhook_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id TEXT NOT NULL UNIQUE,
        site_id TEXT NOT NULL,
        event TEXT NOT NULL,
        url TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at REAL,
        lease_owner TEXT,
        lease_until REAL,
        last_status_code INTEGER,
        last_error TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT
    );
    CREATE INDEX outbox_due ON webhook_outbox (status, next_attempt_at);
    CREATE INDEX outbox_by_site ON webhook_outbox (site_id, seq);
    CREATE TABLE webhook_attempts (
        delivery_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at REAL NOT NULL,
        status_code INTEGER,
        error TEXT,
        duration_ms REAL
    );
    CREATE INDEX attempts_by_delivery ON webhook_attempts (delivery_id, attempt);
    CREATE TABLE analytics_generations (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        site_id TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE analytics_usage (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        site_id TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: each reason a grant is taken back (its refunds, each dispute) keeps its own target
    """
    CREATE TABLE reversal_targets (
        grant_ref TEXT NOT NULL,
        bucket TEXT NOT NULL,
        target INTEGER NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (grant_ref, bucket)
    );
    """,
    # 3: delivered webhooks are pruned after the retention period: find the old ones fast
    """
    CREATE INDEX IF NOT EXISTS outbox_delivered ON webhook_outbox (status, delivered_at)
    WHERE status = 'delivered';
    """,
    # 4: running totals kept with each write, so stats never scans the ledger (see
    # `service.store.base.entry_totals`); backfilled from the ledger once, here
    lambda c: create_totals(c),
]


def scan_totals(c: sqlite3.Connection) -> Totals:
    """The running totals as a scan of the ledger and the purchases computes them: what
    migration 4 starts from, and what the totals must always equal."""
    totals: Totals = {}
    for kind, credit_type, total, count in c.execute(
        "SELECT kind, credit_type, SUM(delta), COUNT(*) FROM ledger GROUP BY kind, credit_type"
    ):
        totals[("credits", f"{kind}:{credit_type}")] = int(total)
        totals[("entries", kind)] = totals.get(("entries", kind), 0) + int(count)
    gross: dict[str, int] = {}
    for table in ("checkout_sessions", "payment_intents"):
        for currency, total in c.execute(
            f"SELECT UPPER(currency), SUM(amount) FROM {table}"
            " WHERE status='completed' GROUP BY UPPER(currency)"
        ):
            gross[currency] = gross.get(currency, 0) + int(total)
    taken = fold_reversals(
        (ref, int(delta), json.loads(meta))
        for ref, delta, meta in c.execute(
            "SELECT parent_ref, delta, meta FROM ledger"
            " WHERE kind IN ('reversal', 'restore') ORDER BY seq"
        )
    )
    grants = c.execute(
        "SELECT source_ref, meta, delta FROM ledger WHERE source_ref IN"
        " (SELECT DISTINCT parent_ref FROM ledger WHERE kind IN ('reversal', 'restore'))"
    ).fetchall()
    reversals = [
        ReversedGrant(json.loads(meta), int(granted), *taken[ref]) for ref, meta, granted in grants
    ]
    for currency, value in net_revenue(gross, reversals).items():
        totals[("revenue", currency)] = value
    return totals


def create_totals(c: sqlite3.Connection) -> None:
    """Migration 4: the totals table, filled from a scan (inside the opening's transaction,
    so no write lands between the scan and the first write that keeps it). Refilled when it
    runs again: an older version opening the file sets the version back, and its money
    writes did not move the totals."""
    c.execute(
        "CREATE TABLE IF NOT EXISTS totals (metric TEXT NOT NULL, key TEXT NOT NULL,"
        " value INTEGER NOT NULL, PRIMARY KEY (metric, key)) WITHOUT ROWID"
    )
    c.execute("DELETE FROM totals")
    c.executemany(
        "INSERT INTO totals VALUES (?,?,?)",
        [(metric, key, value) for (metric, key), value in scan_totals(c).items()],
    )


#: Rate-limit counters live in a second file without fsync: losing a minute's counts in a
#: crash is harmless, and it keeps an fsync off every request.
RATE_LIMIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_limits (
    key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);
"""
