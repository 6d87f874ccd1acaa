"""Sites on SQLite: registration, settings, status; every write bumps the sites cache version."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ...domain.models import Site, now_iso
from ..base import DuplicateError, merged_fields
from .connection import SQLiteConnection
from .rows import columns, from_row, slots, to_row

SITE_COLUMNS = columns(Site)


def _site(row: sqlite3.Row | tuple) -> Site:
    return from_row(Site, row, "metadata", "config")


class SQLiteSites(SQLiteConnection):
    """The sites of `Store`."""

    async def create_site(self, site: Site) -> Site:
        def insert(c: sqlite3.Connection) -> Site:
            try:
                c.execute(
                    f"INSERT INTO sites ({SITE_COLUMNS}) VALUES ({slots(12)})",
                    to_row(site, "metadata", "config"),
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

        def change(site: Site) -> Site:
            changes: dict[str, Any] = {
                key: fields[key]
                for key in ("site_url", "admin_email", "status", "disabled_reason")
                if key in fields
            }
            if "metadata" in fields:
                changes["metadata"] = {**site.metadata, **fields["metadata"]}
            return replace(site, **changes, updated_at=now_iso())

        changed = await self._change_site(site_id, change)
        return changed[1] if changed else None

    async def update_site_config(
        self, site_id: str, changes: dict[str, Any], remove: Sequence[str] = ()
    ) -> tuple[Site, Site] | None:
        merged_fields({}, changes, remove)  # refuses bad keys before the writer's queue

        def change(site: Site) -> Site:
            config = merged_fields(site.config, changes, remove)
            return replace(site, config=config, updated_at=now_iso())

        return await self._change_site(site_id, change)

    async def set_site_status(
        self,
        site_id: str,
        status: str,
        disabled_reason: str | None,
        *,
        instance_id: str | None = None,
    ) -> tuple[Site, Site] | None:
        def change(site: Site) -> Site:
            if instance_id is not None and site.instance_id != instance_id:
                return site
            return replace(
                site, status=status, disabled_reason=disabled_reason, updated_at=now_iso()
            )

        return await self._change_site(site_id, change)

    async def _change_site(
        self, site_id: str, change: Callable[[Site], Site]
    ) -> tuple[Site, Site] | None:
        """Read the site and write `change(site)` in one write transaction, so no other write
        lands in between: the site before and after, None for an unknown site. A change that
        answers the site itself writes nothing."""

        def write(c: sqlite3.Connection) -> tuple[Site, Site] | None:
            row = c.execute(
                f"SELECT {SITE_COLUMNS} FROM sites WHERE site_id = ?", (site_id,)
            ).fetchone()
            if row is None:
                return None
            before = _site(row)
            after = change(before)
            if after is not before:
                c.execute(
                    f"UPDATE sites SET ({SITE_COLUMNS}) = ({slots(12)}) WHERE site_id = ?",
                    (*to_row(after, "metadata", "config"), site_id),
                )
                self._bump(c, "sites")
            return before, after

        return await self._write(write)

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
