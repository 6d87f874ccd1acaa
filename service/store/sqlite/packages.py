"""Credit packages on SQLite; every write bumps the packages cache version."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

from ...domain.models import Package
from ..base import DuplicateError
from .connection import SQLiteConnection
from .rows import columns, slots, to_row

PACKAGE_COLUMNS = columns(Package)


def _package(row: tuple) -> Package:
    pid, name, ctype, credits, price, currency, desc, popular, active, order = row
    return Package(
        pid, name, ctype, credits, price, currency, desc, bool(popular), bool(active), order
    )


class SQLitePackages(SQLiteConnection):
    """The packages of `Store`."""

    async def seed_packages(self, packages: list[Package]) -> None:
        def seed(c: sqlite3.Connection) -> None:
            if c.execute("SELECT 1 FROM packages LIMIT 1").fetchone() is None:
                for p in packages:
                    self._insert_package(c, p)

        await self._write(seed)

    def _insert_package(self, c: sqlite3.Connection, p: Package) -> None:
        self._bump(c, "packages")
        c.execute(f"INSERT INTO packages ({PACKAGE_COLUMNS}) VALUES ({slots(10)})", to_row(p))

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
