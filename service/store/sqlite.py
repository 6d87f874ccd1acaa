"""The embedded store: one SQLite file in WAL mode, safe with several worker processes.

Each process writes through one connection used from one dedicated thread and reads through
a second connection on a second thread (WAL lets reads run while a write commits), so the
event loop never blocks on SQLite and a read never waits in the writers' queue. Every money primitive runs in a `BEGIN IMMEDIATE` transaction: the
write lock is taken up front, so concurrent callers (threads or processes) serialise on it
and no read-modify-write can interleave. Exactly-once comes from the ledger's UNIQUE
`source_ref`, checked inside that same transaction. Writes queued together share one
transaction and one COMMIT, each in its own savepoint (see `sqlite_writer.py`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from ..domain.ids import new_delivery_id
from ..domain.models import (
    CREDIT_TYPES,
    AttemptOutcome,
    Balances,
    CheckoutSession,
    DeductResult,
    LedgerEntry,
    MoneyResult,
    NotifyFn,
    Package,
    PaymentIntentRecord,
    PurchaseCompletion,
    ReconcileReport,
    Site,
    User,
    UserSeed,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDraft,
    iso_from_unix,
    now_iso,
    unix_now,
)
from .base import (
    CACHED,
    DuplicateError,
    Totals,
    UnknownGrantError,
    entries_from_totals,
    figures_from_totals,
    merged_fields,
    outages_unavailable,
)
from .money_plan import (
    Change,
    check_repeat,
    deduct_ref,
    entry_totals,
    plan_reversal,
    revenue_change,
    welcome_changes,
)
from .sqlite_schema import MIGRATIONS, RATE_LIMIT_SCHEMA
from .sqlite_writer import SQLiteWriter, is_outage

T = TypeVar("T")

#: Users per page of `reconcile`: one short read each.
RECONCILE_PAGE = 500

SITE_COLUMNS = (
    "site_id, instance_id, site_url, admin_email, token_hash, webhook_secret, status,"
    " disabled_reason, metadata, config, created_at, updated_at"
)
LEDGER_COLUMNS = (
    "transaction_id, site_id, user_id, credit_type, delta, balance_after, kind, source_ref,"
    " parent_ref, reason, meta, created_at"
)
PACKAGE_COLUMNS = (
    "package_id, name, credit_type, credits, price, currency, description, is_popular, active,"
    " sort_order"
)
SESSION_COLUMNS = (
    "session_id, site_id, user_id, user_email, package_id, credit_type, credits, amount,"
    " currency, status, url, payment_intent_id, created_at, expires_at, completed_at"
)
INTENT_COLUMNS = (
    "payment_intent_id, site_id, user_id, user_email, package_id, credit_type, credits, amount,"
    " currency, status, created_at, completed_at"
)
OUTBOX_COLUMNS = (
    "delivery_id, site_id, event, url, body, status, attempts, next_attempt_at,"
    " last_status_code, last_error, created_at, delivered_at"
)


def _site(row: sqlite3.Row | tuple) -> Site:
    (
        site_id,
        instance_id,
        site_url,
        admin_email,
        token_hash,
        secret,
        status,
        reason,
        metadata,
        config,
        created_at,
        updated_at,
    ) = row
    return Site(
        site_id,
        instance_id,
        site_url,
        admin_email,
        token_hash,
        secret,
        status,
        reason,
        json.loads(metadata),
        json.loads(config),
        created_at,
        updated_at,
    )


def _entry(row: tuple) -> LedgerEntry:
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


def _package(row: tuple) -> Package:
    pid, name, ctype, credits, price, currency, desc, popular, active, order = row
    return Package(
        pid, name, ctype, credits, price, currency, desc, bool(popular), bool(active), order
    )


def _delivery(row: tuple, attempts: tuple[WebhookAttempt, ...] = ()) -> WebhookDelivery:
    return replace(WebhookDelivery(*row), attempt_log=attempts)


def owner_only(path: Path) -> None:
    """Create the database file readable by its owner only (it holds every site's webhook
    secret and the provider keys), or tighten an existing one and its -wal and -shm.
    SQLite creates -wal and -shm with the database file's mode."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for companion in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if companion.stat().st_mode & 0o077:
                companion.chmod(0o600)


@outages_unavailable(is_outage)
class SQLiteStore:
    """The Store on one SQLite file (see `service.store.base.Store` for the contract)."""

    name = "sqlite"

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self._db: sqlite3.Connection | None = None
        self._rdb: sqlite3.Connection | None = None  # reads only, on the reader's thread
        self._limits: sqlite3.Connection | None = None
        # Worker processes on the same file take turns through a lock file (see SQLiteWriter).
        self.writer = SQLiteWriter(
            lambda: self._db, lock_path=self.path.with_name(self.path.name + ".writelock")
        )
        # The reader waits for the event loop's turn; the writer does not: it may hold the
        # lock file that other workers' writers wait on (see cpu_affinity.helper_thread).
        self.reader = SQLiteWriter(lambda: self._rdb, name="sqlite-read", helper=True)

    # ------------------------------------------------------------------ plumbing
    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) on the reader's thread, in one read transaction (shared with the reads
        queued with it): every query of fn sees the same committed snapshot, whatever the
        writer commits meanwhile, and every write acknowledged before the call."""
        return await self.reader.read(fn, *args)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn in a write transaction (IMMEDIATE); answers once it is committed."""
        return await self.writer.write(fn)

    def _connect(self, path: Path, synchronous: str) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=OFF")
        return conn

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        limits = self.path.with_name(self.path.name + ".ratelimit")
        for path in (self.path, limits):
            owner_only(path)
        if self.writer.lock_path is not None:
            owner_only(self.writer.lock_path)  # an older one may have been made 0644
        # Workers start together. Two connections turning a new file to WAL at once can
        # deadlock, and SQLite answers one `database is locked` without waiting: the workers
        # open the files one after another, as their writers take turns.
        with self.writer.processes_take_turns():
            self._db = self._connect(self.path, self.synchronous)
            self._limits = self._connect(limits, "OFF")
            self._limits.executescript(RATE_LIMIT_SCHEMA)

    def _open_reader(self) -> None:
        self._rdb = self._connect(self.path, self.synchronous)
        self._rdb.execute("PRAGMA query_only=ON")

    @staticmethod
    def _migrate(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = c.execute("SELECT version FROM schema_version").fetchone()
        version = row[0] if row else 0
        for number, script in enumerate(MIGRATIONS, start=1):
            if number <= version:
                continue
            if isinstance(script, str):
                for statement in script.split(";"):
                    if statement.strip():
                        c.execute(statement)
            else:
                script(c)
        if row is None:
            c.execute("INSERT INTO schema_version VALUES (?)", (len(MIGRATIONS),))
        elif version < len(MIGRATIONS):  # never back: a newer version may share the file
            c.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))

    @staticmethod
    def _cache_versions_table(c: sqlite3.Connection) -> None:
        c.execute(
            "CREATE TABLE IF NOT EXISTS cache_versions"
            " (name TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        c.executemany(
            "INSERT OR IGNORE INTO cache_versions VALUES (?, 0)", [(name,) for name in CACHED]
        )

    @staticmethod
    def _bump(c: sqlite3.Connection, name: str) -> None:
        """Tell every worker's cache of `name` that it changed (in the writer's transaction)."""
        c.execute("UPDATE cache_versions SET version = version + 1 WHERE name = ?", (name,))

    async def cache_versions(self) -> dict[str, int]:
        return dict(await self._run(self._read, "SELECT name, version FROM cache_versions"))

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        assert self._rdb is not None
        return self._rdb.execute(sql, params).fetchall()

    async def open(self) -> None:
        if self.writer.running:
            return
        self.writer.start()
        self.reader.start()
        await self.writer.call(self._open_sync)
        await self._write(self._migrate)
        await self._write(self._cache_versions_table)
        await self.reader.call(self._open_reader)

    async def close(self) -> None:
        if not self.writer.running:
            return

        def close_sync() -> None:
            for conn in (self._db, self._limits):
                if conn is not None:
                    conn.close()
            self._db = self._limits = None

        def close_reader() -> None:
            if self._rdb is not None:
                self._rdb.close()
            self._rdb = None

        await self.reader.call(close_reader)
        self.reader.stop()
        await self.writer.call(close_sync)
        self.writer.stop()

    async def ping(self) -> bool:
        return bool(await self._run(lambda: self._read("SELECT 1")[0][0] == 1))

    # ------------------------------------------------------------------ sites
    async def create_site(self, site: Site) -> Site:
        def insert(c: sqlite3.Connection) -> Site:
            try:
                c.execute(
                    f"INSERT INTO sites ({SITE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        site.site_id,
                        site.instance_id,
                        site.site_url,
                        site.admin_email,
                        site.token_hash,
                        site.webhook_secret,
                        site.status,
                        site.disabled_reason,
                        json.dumps(site.metadata),
                        json.dumps(site.config),
                        site.created_at,
                        site.updated_at,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateError("instance_id") from exc
            return site

        return await self._write(insert)

    async def get_site(self, site_id: str) -> Site | None:
        rows = await self._run(
            self._read, f"SELECT {SITE_COLUMNS} FROM sites WHERE site_id = ?", (site_id,)
        )
        return _site(rows[0]) if rows else None

    async def get_site_by_instance(self, instance_id: str) -> Site | None:
        rows = await self._run(
            self._read, f"SELECT {SITE_COLUMNS} FROM sites WHERE instance_id = ?", (instance_id,)
        )
        return _site(rows[0]) if rows else None

    async def list_sites(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[Site]:
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = await self._run(
            self._read,
            f"SELECT {SITE_COLUMNS} FROM sites {where} ORDER BY rowid DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_site(r) for r in rows]

    async def update_site(self, site_id: str, fields: dict[str, Any]) -> Site | None:
        if "config" in fields:
            raise TypeError("a site's config changes through update_site_config")

        def update(c: sqlite3.Connection) -> Site | None:
            row = c.execute(
                f"SELECT {SITE_COLUMNS} FROM sites WHERE site_id = ?", (site_id,)
            ).fetchone()
            if row is None:
                return None
            site = _site(row)
            changes: dict[str, Any] = {}
            for key in ("site_url", "admin_email", "status", "disabled_reason"):
                if key in fields:
                    changes[key] = fields[key]
            if "metadata" in fields:
                changes["metadata"] = {**site.metadata, **fields["metadata"]}
            updated = replace(site, **changes, updated_at=now_iso())
            c.execute(
                "UPDATE sites SET site_url=?, admin_email=?, status=?, disabled_reason=?,"
                " metadata=?, updated_at=? WHERE site_id=?",
                (
                    updated.site_url,
                    updated.admin_email,
                    updated.status,
                    updated.disabled_reason,
                    json.dumps(updated.metadata),
                    updated.updated_at,
                    site_id,
                ),
            )
            self._bump(c, "sites")
            return updated

        return await self._write(update)

    async def update_site_config(
        self, site_id: str, changes: dict[str, Any], remove: Sequence[str] = ()
    ) -> tuple[Site, Site] | None:
        merged_fields({}, changes, remove)  # refuses bad keys before the writer's queue

        def update(c: sqlite3.Connection) -> tuple[Site, Site] | None:
            # Read inside the write transaction: no other write lands between read and write.
            row = c.execute(
                f"SELECT {SITE_COLUMNS} FROM sites WHERE site_id = ?", (site_id,)
            ).fetchone()
            if row is None:
                return None
            before = _site(row)
            after = replace(
                before,
                config=merged_fields(before.config, changes, remove),
                updated_at=now_iso(),
            )
            c.execute(
                "UPDATE sites SET config=?, updated_at=? WHERE site_id=?",
                (json.dumps(after.config), after.updated_at, site_id),
            )
            self._bump(c, "sites")
            return before, after

        return await self._write(update)

    async def set_site_status(
        self,
        site_id: str,
        status: str,
        disabled_reason: str | None,
        *,
        instance_id: str | None = None,
    ) -> tuple[Site, Site] | None:
        def update(c: sqlite3.Connection) -> tuple[Site, Site] | None:
            row = c.execute(
                f"SELECT {SITE_COLUMNS} FROM sites WHERE site_id = ?", (site_id,)
            ).fetchone()
            if row is None:
                return None
            before = _site(row)
            if instance_id is not None and before.instance_id != instance_id:
                return before, before
            after = replace(
                before, status=status, disabled_reason=disabled_reason, updated_at=now_iso()
            )
            c.execute(
                "UPDATE sites SET status=?, disabled_reason=?, updated_at=? WHERE site_id=?",
                (status, disabled_reason, after.updated_at, site_id),
            )
            self._bump(c, "sites")
            return before, after

        return await self._write(update)

    async def reassign_instance(
        self, site_id: str, instance_id: str, token_hash: str
    ) -> Site | None:
        def reassign(c: sqlite3.Connection) -> Site | None:
            try:
                c.execute(
                    "UPDATE sites SET instance_id=?, token_hash=?, updated_at=? WHERE site_id=?",
                    (instance_id, token_hash, now_iso(), site_id),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateError("instance_id") from exc
            self._bump(c, "sites")
            row = c.execute(
                f"SELECT {SITE_COLUMNS} FROM sites WHERE site_id = ?", (site_id,)
            ).fetchone()
            return _site(row) if row else None

        return await self._write(reassign)

    # ------------------------------------------------------------------ users
    def _balances(self, c: sqlite3.Connection, site_id: str, user_id: str) -> Balances:
        return Balances.from_mapping(self._balance_values(c, site_id, user_id))

    @staticmethod
    def _balance_values(c: sqlite3.Connection, site_id: str, user_id: str) -> dict[str, int]:
        rows = c.execute(
            "SELECT credit_type, balance FROM balances WHERE site_id=? AND user_id=?",
            (site_id, user_id),
        ).fetchall()
        return dict(rows)

    def _user(self, c: sqlite3.Connection, site_id: str, user_id: str) -> User | None:
        row = c.execute(
            "SELECT email, created_at FROM users WHERE site_id=? AND user_id=?",
            (site_id, user_id),
        ).fetchone()
        if row is None:
            return None
        return User(site_id, user_id, row[0], self._balances(c, site_id, user_id), row[1])

    def _ensure_user(
        self, c: sqlite3.Connection, site_id: str, user_id: str, seed: UserSeed
    ) -> None:
        """Create the user with its welcome credits, or update its email to a new non-empty one."""
        row = c.execute(
            "SELECT email FROM users WHERE site_id=? AND user_id=?", (site_id, user_id)
        ).fetchone()
        if row is None:
            self._create_user(c, site_id, user_id, seed.email, seed.free_credits)
        elif seed.email and seed.email != row[0]:
            c.execute(
                "UPDATE users SET email=? WHERE site_id=? AND user_id=?",
                (seed.email, site_id, user_id),
            )

    def _create_user(
        self,
        c: sqlite3.Connection,
        site_id: str,
        user_id: str,
        email: str | None,
        free: dict[str, int],
    ) -> None:
        c.execute("INSERT INTO users VALUES (?,?,?,?)", (site_id, user_id, email, now_iso()))
        c.executemany(
            "INSERT INTO balances VALUES (?,?,?,0)",
            [(site_id, user_id, credit_type) for credit_type in CREDIT_TYPES],
        )
        for change in welcome_changes(site_id, user_id, free):
            c.execute(
                "UPDATE balances SET balance=? WHERE site_id=? AND user_id=? AND credit_type=?",
                (change.delta, site_id, user_id, change.credit_type),
            )
            self._insert_entry(c, change.entry(change.delta))

    async def ensure_user(
        self, site_id: str, user_id: str, email: str | None, free_credits: dict[str, int]
    ) -> User:
        def read() -> User | None:
            assert self._rdb is not None
            return self._user(self._rdb, site_id, user_id)

        def create(c: sqlite3.Connection) -> User:
            self._ensure_user(c, site_id, user_id, UserSeed(email, free_credits))
            user = self._user(c, site_id, user_id)
            assert user is not None
            return user

        # The hot path is a read; write only for a new user or a changed email.
        user = await self._run(read)
        if user is not None and (not email or email == user.email):
            return user
        return await self._write(create)

    async def get_user(self, site_id: str, user_id: str) -> User | None:
        def read() -> User | None:
            assert self._rdb is not None
            return self._user(self._rdb, site_id, user_id)

        return await self._run(read)

    async def list_users(self, site_id: str, *, limit: int = 50, offset: int = 0) -> list[User]:
        def read() -> list[User]:
            assert self._rdb is not None
            ids = self._rdb.execute(
                "SELECT user_id FROM users WHERE site_id=? ORDER BY rowid LIMIT ? OFFSET ?",
                (site_id, limit, offset),
            ).fetchall()
            users = [self._user(self._rdb, site_id, uid) for (uid,) in ids]
            return [u for u in users if u is not None]

        return await self._run(read)

    # ------------------------------------------------------------------ money
    @staticmethod
    def _add_totals(c: sqlite3.Connection, changes: Sequence[tuple[str, str, int]]) -> None:
        """Move the running totals (see `base.entry_totals`), in the caller's transaction."""
        c.executemany(
            "INSERT INTO totals VALUES (?,?,?) ON CONFLICT (metric, key)"
            " DO UPDATE SET value = value + excluded.value",
            changes,
        )

    def _insert_entry(self, c: sqlite3.Connection, e: LedgerEntry) -> None:
        self._add_totals(c, entry_totals(e))
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

    def _entry_by_ref(self, c: sqlite3.Connection, source_ref: str) -> LedgerEntry | None:
        row = c.execute(
            f"SELECT {LEDGER_COLUMNS} FROM ledger WHERE source_ref=?", (source_ref,)
        ).fetchone()
        return _entry(row) if row else None

    def _apply(
        self, c: sqlite3.Connection, change: Change, notify: NotifyFn | None = None
    ) -> tuple[LedgerEntry | None, Balances]:
        """Change one balance and append its ledger entry, inside the caller's transaction.
        Answers (None, balances) when the floor forbids the change."""
        site_id, user_id, credit_type = change.site_id, change.user_id, change.credit_type
        # A user's balance rows are made with the user: none means no user yet.
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
        self._insert_entry(c, entry)
        balances = Balances.from_mapping(values)
        if notify is not None:
            draft = notify(entry, balances)
            if draft is not None:
                self._enqueue(c, draft)
        return entry, balances

    async def grant_once(
        self,
        site_id: str,
        user_id: str,
        credit_type: str,
        credits: int,
        source_ref: str,
        *,
        kind: str = "purchase",
        reason: str | None = None,
        meta: dict[str, Any] | None = None,
        notify: NotifyFn | None = None,
        purchase: PurchaseCompletion | None = None,
    ) -> MoneyResult:
        def grant(c: sqlite3.Connection) -> MoneyResult:
            if purchase is not None:
                self._complete(c, purchase)
            first = self._entry_by_ref(c, source_ref)
            if first is not None:
                return MoneyResult(False, first, self._balances(c, first.site_id, first.user_id))
            change = Change(
                site_id,
                user_id,
                credit_type,
                credits,
                source_ref,
                kind,
                reason=reason,
                meta=meta or {},
            )
            entry, balances = self._apply(c, change, notify)
            return MoneyResult(True, entry, balances)

        return await self._write(grant)

    @classmethod
    def _complete(cls, c: sqlite3.Connection, purchase: PurchaseCompletion) -> None:
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
            cls._add_totals(c, [("revenue", row[0], int(row[1]))])
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

    async def deduct(
        self,
        site_id: str,
        user_id: str,
        credit_type: str,
        amount: int,
        *,
        idempotency_key: str | None = None,
        reason: str | None = None,
        notify: NotifyFn | None = None,
        ensure: UserSeed | None = None,
    ) -> DeductResult:
        source_ref = deduct_ref(site_id, user_id, idempotency_key)
        change = Change(
            site_id, user_id, credit_type, -amount, source_ref, "deduction", 0, reason=reason
        )
        return await self._write(lambda c: self._covered(c, change, notify, ensure))

    async def adjust(
        self,
        site_id: str,
        user_id: str,
        credit_type: str,
        delta: int,
        source_ref: str,
        *,
        reason: str,
        notify: NotifyFn | None = None,
    ) -> DeductResult:
        change = Change(
            site_id, user_id, credit_type, delta, source_ref, "adjustment", 0, reason=reason
        )
        return await self._write(lambda c: self._covered(c, change, notify))

    def _covered(
        self,
        c: sqlite3.Connection,
        change: Change,
        notify: NotifyFn | None,
        ensure: UserSeed | None = None,
    ) -> DeductResult:
        """A change the balance must cover, once per source_ref (a repeat replays the first)."""
        if ensure is not None:
            self._ensure_user(c, change.site_id, change.user_id, ensure)
        first = self._entry_by_ref(c, change.source_ref)
        if first is not None:
            check_repeat(first, change)
            balances = self._balances(c, change.site_id, change.user_id)
            return DeductResult(True, first, balances, True)
        entry, balances = self._apply(c, change, notify)
        return DeductResult(entry is not None, entry, balances)

    async def reverse(
        self,
        grant_ref: str,
        credits: int,
        *,
        reason: str,
        bucket: str = "refund",
        version: int | None = None,
        notify: NotifyFn | None = None,
        meta: dict[str, Any] | None = None,
    ) -> MoneyResult:
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
            plan = plan_reversal(grant.delta, stored, already, bucket, credits, version)
            c.executemany(
                "INSERT OR REPLACE INTO reversal_targets VALUES (?,?,?,?)",
                [(grant_ref, b, t, v) for b, (t, v) in plan.changed_targets().items()],
            )
            change = plan.change(
                grant, len(before) + 1, reason=reason, bucket=bucket, meta=meta or {}
            )
            if change is None:
                return MoneyResult(False, None, self._balances(c, grant.site_id, grant.user_id))
            entry, balances = self._apply(c, change, notify)
            assert entry is not None  # no floor: always applied
            if (revenue := revenue_change(grant.meta, grant.delta, before, entry)) is not None:
                self._add_totals(c, [("revenue", *revenue)])
            return MoneyResult(True, entry, balances)

        return await self._write(reverse)

    async def get_ledger_entry(self, source_ref: str) -> LedgerEntry | None:
        def read() -> LedgerEntry | None:
            assert self._rdb is not None
            return self._entry_by_ref(self._rdb, source_ref)

        return await self._run(read)

    async def list_ledger(
        self,
        *,
        site_id: str | None = None,
        user_id: str | None = None,
        credit_type: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[LedgerEntry]:
        clauses, params = [], []
        for column, value in (
            ("site_id", site_id),
            ("user_id", user_id),
            ("credit_type", credit_type),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = await self._run(
            self._read,
            f"SELECT {LEDGER_COLUMNS} FROM ledger {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_entry(r) for r in rows]

    async def reconcile(self) -> ReconcileReport:
        """Every balance against its ledger sum, a page of users at a time: each page is one
        read (one snapshot) on the reader's thread, so a user's balance and ledger are read
        together, the writer never waits, and a request waits at most one page."""
        checked, differences = 0, []
        after: tuple[str, str] | None = None
        while True:
            count, found, after = await self._run(self._reconcile_page, after, RECONCILE_PAGE)
            checked += count
            differences += found
            if after is None:
                return ReconcileReport(checked, differences)

    def _reconcile_page(
        self, after: tuple[str, str] | None, size: int
    ) -> tuple[int, list[dict[str, Any]], tuple[str, str] | None]:
        """The balances and ledger sums of the users after `after` up to `size` users on: the
        rows checked, the differences, and the last user (None when none is left). The last
        page is open-ended, so ledger entries of a user without balances are found too."""
        low, params = ("(site_id, user_id) > (?, ?)", after) if after else ("1", ())
        users = self._read(
            f"SELECT site_id, user_id FROM users WHERE {low} ORDER BY site_id, user_id LIMIT ?",
            (*params, size),
        )
        last = tuple(users[-1]) if len(users) == size else None
        where, bounds = (
            (f"{low} AND (site_id, user_id) <= (?, ?)", (*params, *last)) if last else (low, params)
        )
        balances = {
            (s, u, t): b
            for s, u, t, b in self._read(
                f"SELECT site_id, user_id, credit_type, balance FROM balances WHERE {where}", bounds
            )
        }
        sums = {
            (s, u, t): int(total)
            for s, u, t, total in self._read(
                f"SELECT site_id, user_id, credit_type, SUM(delta) FROM ledger WHERE {where}"
                " GROUP BY site_id, user_id, credit_type",
                bounds,
            )
        }
        differences = [
            {
                "site_id": s,
                "user_id": u,
                "credit_type": t,
                "balance": balances.get((s, u, t), 0),
                "ledger_sum": sums.get((s, u, t), 0),
            }
            for s, u, t in sorted(balances.keys() | sums.keys())
            if balances.get((s, u, t), 0) != sums.get((s, u, t), 0)
        ]
        return len(balances), differences, last

    # ------------------------------------------------------------------ packages
    async def seed_packages(self, packages: list[Package]) -> None:
        def seed(c: sqlite3.Connection) -> None:
            if c.execute("SELECT 1 FROM packages LIMIT 1").fetchone() is None:
                for p in packages:
                    self._insert_package(c, p)

        await self._write(seed)

    def _insert_package(self, c: sqlite3.Connection, p: Package) -> None:
        self._bump(c, "packages")
        c.execute(
            f"INSERT INTO packages ({PACKAGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                p.package_id,
                p.name,
                p.credit_type,
                p.credits,
                p.price,
                p.currency,
                p.description,
                int(p.is_popular),
                int(p.active),
                p.sort_order,
            ),
        )

    async def list_packages(self, *, active_only: bool = True) -> list[Package]:
        where = "WHERE active = 1" if active_only else ""
        rows = await self._run(
            self._read,
            f"SELECT {PACKAGE_COLUMNS} FROM packages {where} ORDER BY sort_order, package_id",
        )
        return [_package(r) for r in rows]

    async def get_package(self, package_id: str) -> Package | None:
        rows = await self._run(
            self._read, f"SELECT {PACKAGE_COLUMNS} FROM packages WHERE package_id=?", (package_id,)
        )
        return _package(rows[0]) if rows else None

    async def create_package(self, package: Package) -> Package:
        def insert(c: sqlite3.Connection) -> Package:
            try:
                self._insert_package(c, package)
            except sqlite3.IntegrityError as exc:
                raise DuplicateError("package_id") from exc
            return package

        return await self._write(insert)

    async def update_package(self, package_id: str, fields: dict[str, Any]) -> Package | None:
        def update(c: sqlite3.Connection) -> Package | None:
            row = c.execute(
                f"SELECT {PACKAGE_COLUMNS} FROM packages WHERE package_id=?", (package_id,)
            ).fetchone()
            if row is None:
                return None
            package = replace(_package(row), **fields)
            c.execute("DELETE FROM packages WHERE package_id=?", (package_id,))
            self._insert_package(c, package)
            return package

        return await self._write(update)

    # ------------------------------------------------------------------ sessions and intents
    async def create_checkout_session(self, session: CheckoutSession) -> None:
        s = session

        def insert(c: sqlite3.Connection) -> None:
            try:
                c.execute(
                    f"INSERT INTO checkout_sessions ({SESSION_COLUMNS})"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        s.session_id,
                        s.site_id,
                        s.user_id,
                        s.user_email,
                        s.package_id,
                        s.credit_type,
                        s.credits,
                        s.amount,
                        s.currency,
                        s.status,
                        s.url,
                        s.payment_intent_id,
                        s.created_at,
                        s.expires_at,
                        s.completed_at,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateError("session_id") from exc
            if s.status == "completed":
                self._add_totals(c, [("revenue", s.currency.upper(), s.amount)])

        await self._write(insert)

    async def get_checkout_session(self, session_id: str) -> CheckoutSession | None:
        rows = await self._run(
            self._read,
            f"SELECT {SESSION_COLUMNS} FROM checkout_sessions WHERE session_id=?",
            (session_id,),
        )
        return CheckoutSession(*rows[0]) if rows else None

    async def get_checkout_session_by_payment_intent(
        self, payment_intent_id: str
    ) -> CheckoutSession | None:
        rows = await self._run(
            self._read,
            f"SELECT {SESSION_COLUMNS} FROM checkout_sessions WHERE payment_intent_id=?",
            (payment_intent_id,),
        )
        return CheckoutSession(*rows[0]) if rows else None

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
                self._add_totals(c, [("revenue", currency, sign * int(amount))])
            return len(changed) == 1

        return await self._write(update)

    async def transition_checkout_session(
        self, session_id: str, from_status: str, to_status: str, fields: dict[str, Any]
    ) -> bool:
        return await self._transition(
            "checkout_sessions", "session_id", session_id, from_status, to_status, fields
        )

    async def create_payment_intent(self, intent: PaymentIntentRecord) -> None:
        i = intent

        def insert(c: sqlite3.Connection) -> None:
            try:
                c.execute(
                    f"INSERT INTO payment_intents ({INTENT_COLUMNS})"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        i.payment_intent_id,
                        i.site_id,
                        i.user_id,
                        i.user_email,
                        i.package_id,
                        i.credit_type,
                        i.credits,
                        i.amount,
                        i.currency,
                        i.status,
                        i.created_at,
                        i.completed_at,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateError("payment_intent_id") from exc
            if i.status == "completed":
                self._add_totals(c, [("revenue", i.currency.upper(), i.amount)])

        await self._write(insert)

    async def get_payment_intent(self, payment_intent_id: str) -> PaymentIntentRecord | None:
        rows = await self._run(
            self._read,
            f"SELECT {INTENT_COLUMNS} FROM payment_intents WHERE payment_intent_id=?",
            (payment_intent_id,),
        )
        return PaymentIntentRecord(*rows[0]) if rows else None

    # ------------------------------------------------------------------ Stripe events
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

    # ------------------------------------------------------------------ outbox
    def _enqueue(self, c: sqlite3.Connection, draft: WebhookDraft) -> WebhookDelivery:
        delivery = WebhookDelivery(
            draft.delivery_id or new_delivery_id(),
            draft.site_id,
            draft.event,
            draft.url,
            draft.body,
            "pending",
            0,
            unix_now(),
            None,
            None,
            now_iso(),
        )
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

    async def count_ledger_entries(self) -> dict[str, int]:
        return entries_from_totals(await self._totals())

    async def _totals(self) -> Totals:
        rows = await self._run(self._read, "SELECT metric, key, value FROM totals")
        return {(metric, key): int(value) for metric, key, value in rows}

    # ------------------------------------------------------------------ analytics, settings
    async def record_generation(self, site_id: str, row: dict[str, Any]) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT INTO analytics_generations (site_id, data, created_at) VALUES (?,?,?)",
                (site_id, json.dumps(row, ensure_ascii=False), now_iso()),
            )
        )

    async def record_usage(self, site_id: str, report: dict[str, Any]) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT INTO analytics_usage (site_id, data, created_at) VALUES (?,?,?)",
                (site_id, json.dumps(report, ensure_ascii=False), now_iso()),
            )
        )

    async def get_setting(self, key: str) -> dict[str, Any] | None:
        rows = await self._run(self._read, "SELECT value FROM settings WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else None

    async def set_setting(self, key: str, value: dict[str, Any]) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT INTO settings VALUES (?,?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(value)),
            )
        )

    async def merge_setting(
        self, key: str, changes: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        merged_fields({}, changes)  # refuses bad keys before the writer's queue

        def merge(c: sqlite3.Connection) -> tuple[dict[str, Any] | None, dict[str, Any]]:
            # Read inside the write transaction: no other write lands between read and write.
            row = c.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
            before = json.loads(row[0]) if row else None
            after = merged_fields(before or {}, changes)
            c.execute(
                "INSERT INTO settings VALUES (?,?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(after)),
            )
            return before, after

        return await self._write(merge)

    # ------------------------------------------------------------------ rate limits
    async def hit_rate_limit(self, key: str, window_start: int, amount: int = 1) -> int:
        def hit() -> int:
            c = self._limits
            assert c is not None
            c.execute("BEGIN IMMEDIATE")
            try:
                (count,) = c.execute(
                    "INSERT INTO rate_limits VALUES (?,?,?) ON CONFLICT (key, window_start)"
                    " DO UPDATE SET count = count + excluded.count RETURNING count",
                    (key, window_start, amount),
                ).fetchone()
                # Old windows are dead weight; the first hits of a window sweep them.
                if count == amount:
                    c.execute("DELETE FROM rate_limits WHERE window_start < ?", (window_start,))
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
            return int(count)

        return await self.writer.call(hit)

    # ------------------------------------------------------------------ figures
    async def stats(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            q = self._read
            sites = dict(q("SELECT status, COUNT(*) FROM sites GROUP BY status"))
            webhooks = dict(q("SELECT status, COUNT(*) FROM webhook_outbox GROUP BY status"))
            return {
                "sites": {
                    "total": sum(sites.values()),
                    "active": sites.get("active", 0),
                    "disabled": sites.get("disabled", 0),
                },
                "users": q("SELECT COUNT(*) FROM users")[0][0],
                **figures_from_totals(
                    {(m, k): int(v) for m, k, v in q("SELECT metric, key, value FROM totals")}
                ),
                "webhooks": {k: int(v) for k, v in webhooks.items()},
            }

        return await self._run(read)
