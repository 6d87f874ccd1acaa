"""Users and their balances on SQLite.

Invariant: a user's balance rows are made with the user, one per credit type, and its welcome
credits are ledger entries written with them (`money_plan.welcome_changes`).
"""

from __future__ import annotations

import sqlite3

from ...domain.models import CREDIT_TYPES, Balances, User, UserSeed, now_iso
from ..money_plan import welcome_changes
from .connection import SQLiteConnection
from .ledger import insert_entry


class SQLiteUsers(SQLiteConnection):
    """The users and balances of `Store`."""

    def _balances(self, c: sqlite3.Connection, site_id: str, user_id: str) -> Balances:
        return Balances.from_mapping(self._balance_values(c, site_id, user_id))

    @staticmethod
    def _balance_values(c: sqlite3.Connection, site_id: str, user_id: str) -> dict[str, int]:
        rows = c.execute(
            "SELECT credit_type, balance FROM balances WHERE site_id=? AND user_id=?",
            (site_id, user_id),
        ).fetchall()
        return dict(rows)

    @staticmethod
    def _user_row(
        c: sqlite3.Connection, site_id: str, user_id: str
    ) -> tuple[str | None, str, dict[str, int]] | None:
        """The user's email, created_at and balances by credit type, or None: one statement,
        which the credits read and every deduction run."""
        rows = c.execute(
            "SELECT u.email, u.created_at, b.credit_type, b.balance FROM users u"
            " LEFT JOIN balances b ON b.site_id = u.site_id AND b.user_id = u.user_id"
            " WHERE u.site_id=? AND u.user_id=?",
            (site_id, user_id),
        ).fetchall()
        if not rows:
            return None
        values = {credit_type: balance for _, _, credit_type, balance in rows if credit_type}
        return rows[0][0], rows[0][1], values

    @staticmethod
    def _user(c: sqlite3.Connection, site_id: str, user_id: str) -> User | None:
        row = SQLiteUsers._user_row(c, site_id, user_id)
        if row is None:
            return None
        email, created_at, values = row
        return User(site_id, user_id, email, Balances.from_mapping(values), created_at)

    def _ensure_user(
        self, c: sqlite3.Connection, site_id: str, user_id: str, seed: UserSeed
    ) -> dict[str, int]:
        """Create the user with its welcome credits, or update its email to a new non-empty one;
        answers its balances by credit type. A user that exists costs one statement (a deduction
        runs this first)."""
        row = self._user_row(c, site_id, user_id)
        if row is None:
            self._create_user(c, site_id, user_id, seed.email, seed.free_credits)
            return self._balance_values(c, site_id, user_id)
        email, _, values = row
        if seed.email and seed.email != email:
            c.execute(
                "UPDATE users SET email=? WHERE site_id=? AND user_id=?",
                (seed.email, site_id, user_id),
            )
        return values

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
            insert_entry(c, change.entry(change.delta))

    async def ensure_user(
        self, site_id: str, user_id: str, email: str | None, free_credits: dict[str, int]
    ) -> User:
        def read(c: sqlite3.Connection) -> User | None:
            return self._user(c, site_id, user_id)

        def create(c: sqlite3.Connection) -> User:
            self._ensure_user(c, site_id, user_id, UserSeed(email, free_credits))
            user = self._user(c, site_id, user_id)
            assert user is not None
            return user

        # The hot path is a read; write only for a new user or a changed email.
        user = await self._read_here(read)
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
