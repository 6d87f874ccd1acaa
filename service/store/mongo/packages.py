"""Credit packages on MongoDB; every write bumps the packages cache version."""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ...domain.models import Package
from ..base import DuplicateError
from .connection import MongoConnection
from .documents import PACKAGE_FIELDS, package_doc, package_from


class MongoPackages(MongoConnection):
    """The packages of `Store`."""

    async def seed_packages(self, packages: list[Package]) -> None:
        if not packages or await self.db.packages.count_documents({}, limit=1):
            return
        try:
            await self.db.packages.insert_many([package_doc(p) for p in packages], ordered=False)
        except BulkWriteError as exc:  # another worker seeded at the same moment
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise
        await self._bump("packages")

    async def list_packages(self, *, active_only: bool = True) -> list[Package]:
        query = {"active": True} if active_only else {}
        cursor = self.db.packages.find(query).sort([("sort_order", 1), ("package_id", 1)])
        return [package_from(d) async for d in cursor]

    async def get_package(self, package_id: str) -> Package | None:
        doc = await self.db.packages.find_one({"package_id": package_id})
        return package_from(doc) if doc else None

    async def create_package(self, package: Package) -> Package:
        try:
            await self.db.packages.insert_one(package_doc(package))
        except DuplicateKeyError as exc:
            raise DuplicateError("package_id") from exc
        await self._bump("packages")
        return package

    async def update_package(self, package_id: str, fields: dict[str, Any]) -> Package | None:
        unknown = set(fields) - PACKAGE_FIELDS
        if unknown:
            raise TypeError(f"unknown package fields: {sorted(unknown)}")
        if not fields:
            return await self.get_package(package_id)
        try:
            doc = await self.db.packages.find_one_and_update(
                {"package_id": package_id},
                {"$set": dict(fields)},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError as exc:
            raise DuplicateError("package_id") from exc
        await self._bump("packages")
        return package_from(doc) if doc else None
