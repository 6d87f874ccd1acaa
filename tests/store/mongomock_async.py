"""mongomock behind the face of pymongo's AsyncMongoClient, for the `mongomock` backend.

It runs MongoStore's standalone-server path (no transactions) without a server: every
call first yields to the event loop, so concurrent coroutines interleave between the
adapter's steps as concurrent clients do, while each call stays atomic as one server
operation is. It checks the adapter's logic, not MongoDB's semantics: the `mongo` backend
(a real server) does that.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import mongomock
from pymongo import ReturnDocument

STANDALONE_HELLO = {"isWritablePrimary": True, "maxWireVersion": 21,
                    "logicalSessionTimeoutMinutes": 30}


def _plain(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.pop("session", None)
    return kwargs


class AsyncCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def sort(self, *args: Any, **kwargs: Any) -> AsyncCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    def skip(self, n: int) -> AsyncCursor:
        self._cursor = self._cursor.skip(n)
        return self

    def limit(self, n: int) -> AsyncCursor:
        self._cursor = self._cursor.limit(n)
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        return list(self._cursor)

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        for doc in await self.to_list():
            yield doc


def _evaluate(expression: Any, doc: dict[str, Any]) -> Any:
    """The few aggregation expressions MongoStore uses in pipeline updates."""
    if isinstance(expression, str) and expression.startswith("$"):
        return doc.get(expression[1:])
    if isinstance(expression, dict) and len(expression) == 1:
        (op, arg), = expression.items()
        if op == "$literal":
            return arg
        if op == "$ifNull":
            value = _evaluate(arg[0], doc)
            return _evaluate(arg[1], doc) if value is None else value
        if op == "$mergeObjects":
            merged: dict[str, Any] = {}
            for part in arg:
                merged.update(_evaluate(part, doc) or {})
            return merged
    return expression


class AsyncCollection:
    def __init__(self, collection: mongomock.Collection) -> None:
        self._c = collection

    def find(self, *args: Any, **kwargs: Any) -> AsyncCursor:
        return AsyncCursor(self._c.find(*args, **_plain(kwargs)))

    async def aggregate(self, pipeline: list[dict[str, Any]], **kwargs: Any) -> AsyncCursor:
        await asyncio.sleep(0)
        return AsyncCursor(iter(list(self._c.aggregate(pipeline, **_plain(kwargs)))))

    async def list_indexes(self, **kwargs: Any) -> AsyncCursor:
        await asyncio.sleep(0)
        return AsyncCursor(iter(list(self._c.list_indexes())))

    async def find_one_and_update(self, query: dict[str, Any], update: Any,
                                  **kwargs: Any) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        if not isinstance(update, list):
            return self._c.find_one_and_update(query, update, **_plain(kwargs))
        # A pipeline update (one $set stage), evaluated here: mongomock lacks $mergeObjects.
        doc = self._c.find_one(query)
        if doc is None:
            return None
        (stage,) = update
        values = {k: _evaluate(v, doc) for k, v in stage["$set"].items()}
        self._c.update_one({"_id": doc["_id"]}, {"$set": values})
        after = kwargs.get("return_document") == ReturnDocument.AFTER
        return self._c.find_one({"_id": doc["_id"]}) if after else doc

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._c, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            return method(*args, **_plain(kwargs))

        return call


class AsyncDatabase:
    def __init__(self, db: mongomock.Database, validators: dict[str, Any]) -> None:
        self._db = db
        self._validators = validators  # mongomock keeps none: remembered, not applied

    def __getitem__(self, name: str) -> AsyncCollection:
        return AsyncCollection(self._db[name])

    def __getattr__(self, name: str) -> AsyncCollection:
        return AsyncCollection(self._db[name])

    async def list_collection_names(self, **kwargs: Any) -> list[str]:
        return self._db.list_collection_names()

    async def list_collections(self, filter: dict[str, Any]) -> AsyncCursor:
        names = [n for n in self._db.list_collection_names() if n == filter["name"]]
        return AsyncCursor(iter([{"name": n, "options": {"validator": self._validators.get(n)}}
                                 for n in names]))

    async def create_collection(self, name: str, **kwargs: Any) -> AsyncCollection:
        self._validators[name] = kwargs.pop("validator", None)
        return AsyncCollection(self._db.create_collection(name, **_plain(kwargs)))

    async def command(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if name == "collMod":
            self._validators[args[0]] = kwargs.get("validator")
        return {"ok": 1}


class AsyncAdmin:
    async def command(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return dict(STANDALONE_HELLO) if name == "hello" else {"ok": 1}


class AsyncMongoClient:
    """One mongomock server, shared by every store a test opens on it."""

    def __init__(self, server: mongomock.MongoClient) -> None:
        self.server = server
        self.admin = AsyncAdmin()
        self.validators: dict[str, Any] = {}

    def get_database(self, name: str, **kwargs: Any) -> AsyncDatabase:
        return AsyncDatabase(self.server[name], self.validators)

    async def close(self) -> None:
        pass
