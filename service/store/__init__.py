"""Storage: one interface (`Store`), an embedded SQLite adapter and a MongoDB adapter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import (
    DuplicateError,
    IdempotencyKeyReused,
    Store,
    StoreError,
    StoreUnavailableError,
    UnknownGrantError,
)
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = [
    "DuplicateError",
    "IdempotencyKeyReused",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "UnknownGrantError",
    "open_store",
]


def open_store(settings: Settings) -> Store:
    """The store the settings ask for: MongoDB when MONGODB_URL is set, else SQLite."""
    if settings.mongodb_url:
        from .mongo import MongoStore

        return MongoStore(
            settings.mongodb_url,
            database=settings.mongodb_database,
            timeout_ms=settings.mongodb_timeout_ms,
            index_build_timeout_ms=settings.mongodb_index_build_timeout_ms,
            webhook_retention_days=settings.webhook_retention_days,
        )
    return SQLiteStore(
        settings.sqlite_path,
        synchronous=settings.sqlite_synchronous,
        mmap_size=settings.sqlite_mmap_size,
    )
