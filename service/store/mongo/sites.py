"""Sites on MongoDB: single-document writes, each followed by a bump of the sites cache version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from ...domain.models import Site, now_iso
from ..base import DuplicateError, merged_fields
from .connection import Doc, MongoConnection
from .documents import NEWEST_FIRST, site_doc, site_from


class MongoSites(MongoConnection):
    """The sites of `Store`."""

    async def create_site(self, site: Site) -> Site:
        try:
            await self.db.sites.insert_one(site_doc(site))
        except DuplicateKeyError as exc:
            raise DuplicateError("instance_id") from exc
        return site

    async def get_site(self, site_id: str) -> Site | None:
        doc = await self.db.sites.find_one({"site_id": site_id})
        return site_from(doc) if doc else None

    async def get_site_by_instance(self, instance_id: str) -> Site | None:
        doc = await self.db.sites.find_one({"instance_id": instance_id})
        return site_from(doc) if doc else None

    async def list_sites(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[Site]:
        query = {"status": status} if status else {}
        cursor = self.db.sites.find(query).sort(NEWEST_FIRST).skip(offset).limit(limit)
        return [site_from(d) async for d in cursor]

    async def update_site(self, site_id: str, fields: dict[str, Any]) -> Site | None:
        if "config" in fields:
            raise TypeError("a site's config changes through update_site_config")
        # One pipeline update: the metadata merge happens on the server, atomically.
        stage: Doc = {
            k: {"$literal": fields[k]}
            for k in ("site_url", "admin_email", "status", "disabled_reason")
            if k in fields
        }
        if "metadata" in fields:
            stage["metadata"] = {
                "$mergeObjects": [
                    {"$ifNull": ["$metadata", {}]},
                    {"$literal": dict(fields["metadata"])},
                ]
            }
        stage["updated_at"] = {"$literal": now_iso()}
        doc = await self.db.sites.find_one_and_update(
            {"site_id": site_id}, [{"$set": stage}], return_document=ReturnDocument.AFTER
        )
        await self._bump("sites")
        return site_from(doc) if doc else None

    async def update_site_config(
        self, site_id: str, changes: dict[str, Any], remove: Sequence[str] = ()
    ) -> tuple[Site, Site] | None:
        merged_fields({}, changes, remove)  # checked names: none is a path or an operator
        updated_at = now_iso()
        update: Doc = {
            "$set": {**{f"config.{k}": v for k, v in changes.items()}, "updated_at": updated_at}
        }
        if remove:
            update["$unset"] = {f"config.{k}": "" for k in remove}
        # Per-key operators on the server: the keys others change meanwhile stay theirs.
        doc = await self.db.sites.find_one_and_update(
            {"site_id": site_id}, update, return_document=ReturnDocument.BEFORE
        )
        if doc is None:
            return None
        await self._bump("sites")
        before = site_from(doc)
        config = merged_fields(before.config, changes, remove)
        return before, replace(before, config=config, updated_at=updated_at)

    async def set_site_status(
        self,
        site_id: str,
        status: str,
        disabled_reason: str | None,
        *,
        instance_id: str | None = None,
    ) -> tuple[Site, Site] | None:
        query: Doc = {"site_id": site_id}
        if instance_id is not None:
            query["instance_id"] = instance_id
        updated_at = now_iso()
        doc = await self.db.sites.find_one_and_update(
            query,
            {
                "$set": {
                    "status": status,
                    "disabled_reason": disabled_reason,
                    "updated_at": updated_at,
                }
            },
            return_document=ReturnDocument.BEFORE,
        )
        if doc is None:  # an unknown site, or one holding another instance id
            site = await self.get_site(site_id)
            return None if site is None else (site, site)
        await self._bump("sites")
        before = site_from(doc)
        after = replace(
            before, status=status, disabled_reason=disabled_reason, updated_at=updated_at
        )
        return before, after

    async def reassign_instance(
        self, site_id: str, instance_id: str, token_hash: str
    ) -> Site | None:
        try:
            doc = await self.db.sites.find_one_and_update(
                {"site_id": site_id},
                {
                    "$set": {
                        "instance_id": instance_id,
                        "token_hash": token_hash,
                        "updated_at": now_iso(),
                    }
                },
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError as exc:
            raise DuplicateError("instance_id") from exc
        await self._bump("sites")
        return site_from(doc) if doc else None
