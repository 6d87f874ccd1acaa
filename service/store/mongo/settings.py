"""Settings, analytics and rate limits on MongoDB: single-document writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from ...domain.models import now_iso
from ..base import StoreError, merged_fields
from .connection import Doc, MongoConnection
from .schema import RATE_LIMIT_TTL_SECONDS


class MongoSettings(MongoConnection):
    """The settings, analytics and rate limits of `Store`."""

    async def record_generation(self, site_id: str, row: dict[str, Any]) -> None:
        await self.db.analytics.insert_one(
            {"kind": "generation", "site_id": site_id, "data": row, "created_at": now_iso()}
        )

    async def record_usage(self, site_id: str, report: dict[str, Any]) -> None:
        await self.db.analytics.insert_one(
            {"kind": "usage", "site_id": site_id, "data": report, "created_at": now_iso()}
        )

    async def get_setting(self, key: str) -> dict[str, Any] | None:
        doc = await self.db.settings.find_one({"_id": key})
        return dict(doc["value"]) if doc else None

    async def set_setting(self, key: str, value: dict[str, Any]) -> None:
        await self.db.settings.replace_one({"_id": key}, {"_id": key, "value": value}, upsert=True)

    async def merge_setting(
        self, key: str, changes: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        merged_fields({}, changes)  # checked names: none is a path or an operator
        update: Doc = {"$set": {f"value.{k}": v for k, v in changes.items()}}
        if not changes:
            update = {"$setOnInsert": {"value": {}}}
        doc = await self.db.settings.find_one_and_update(
            {"_id": key}, update, upsert=True, return_document=ReturnDocument.BEFORE
        )
        before = dict(doc["value"]) if doc else None
        return before, merged_fields(before or {}, changes)

    async def hit_rate_limit(self, key: str, window_start: int, amount: int = 1) -> int:
        expires = datetime.fromtimestamp(window_start + RATE_LIMIT_TTL_SECONDS, UTC)
        for _ in range(2):
            try:
                doc = await self.db.rate_limits.find_one_and_update(
                    {"key": key, "window_start": window_start},
                    {"$inc": {"count": amount}, "$setOnInsert": {"expires_at": expires}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                assert doc is not None  # an upsert answering the document after it never misses
                return int(doc["count"])
            except DuplicateKeyError:
                continue  # two first hits raced on the upsert: the retry increments
        raise StoreError(f"rate limit counter {key!r} kept clashing")
