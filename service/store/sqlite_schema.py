"""The SQLite schema, as an ordered list of migrations applied on start."""

MIGRATIONS: list[str] = [
    # 1: everything the service persists
    """
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
        site_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        user_email TEXT,
        package_id TEXT NOT NULL,
        credit_type TEXT NOT NULL,
        credits INTEGER NOT NULL,
        amount INTEGER NOT NULL,
        currency TEXT NOT NULL,
        status TEXT NOT NULL,
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
        site_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        user_email TEXT,
        package_id TEXT NOT NULL,
        credit_type TEXT NOT NULL,
        credits INTEGER NOT NULL,
        amount INTEGER NOT NULL,
        currency TEXT NOT NULL,
        status TEXT NOT NULL,
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
]

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
