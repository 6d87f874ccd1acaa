"""Settings, analytics and rate limits on SQLite.

Invariant: rate limits live in a file of their own (`.ratelimit`, synchronous OFF): counting a
request never waits for the money writer's lock.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ...domain.models import now_iso
from ..base import merged_fields
from .connection import SQLiteConnection


class SQLiteSettings(SQLiteConnection):
    """The settings, analytics and rate limits of `Store`."""

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
