"""The MongoDB store on pymongo's async client: a replica set (one node is enough), Atlas,
or a sharded cluster's mongos, of MongoDB 5.0 or newer.

Invariant: `MongoStore` is its aggregates composed, one mixin per module, on the client of
`connection.py`. Money moves one way, in `money.py`: every money primitive runs in one
multi-document transaction. `open()` reads `hello` and refuses a standalone server, which has
no transactions, and anything older than 5.0; then brings the schema in line and backfills
the running totals. Outside money, every write is one single-document operation but for a
batch of webhook attempts (see `outbox.py`).
"""

from __future__ import annotations

from pymongo import IndexModel, timeout
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, OperationFailure, PyMongoError

from ..base import outages_unavailable
from .connection import Doc, is_outage, secretless
from .figures import MongoFigures
from .money import MongoMoney, pending_entries_refusal
from .outbox import MongoOutbox
from .packages import MongoPackages
from .payments import MongoPayments
from .schema import (
    INDEXES,
    VALIDATORS,
    IndexChange,
    MongoSetupError,
    delivered_ttl_indexes,
    index_build_unfinished,
    index_changes,
    server_refusal,
    unreachable,
)
from .settings import MongoSettings
from .sites import MongoSites

DAY = 24 * 3600


# MongoDB error codes met while creating the schema: two workers at once, an index that
# holds our index's name or key pattern with other options.
NAMESPACE_EXISTS, INDEX_NOT_FOUND = 48, 27
INDEX_OPTIONS_CONFLICT, INDEX_KEY_SPECS_CONFLICT = 85, 86


# ------------------------------------------------------------------ schema
async def _set_validator(db: AsyncDatabase, name: str, validator: Doc) -> None:
    """Replace a collection's validator when it differs. A validator we cannot replace fails
    start-up: a stale one (the seed's wants an ObjectId site_id and an int user_id) would
    reject every checkout session at request time instead."""
    async for info in await db.list_collections(filter={"name": name}):
        if info.get("options", {}).get("validator") == validator:
            return
    try:
        await db.command("collMod", name, validator=validator)
    except OperationFailure as exc:
        raise MongoSetupError(
            f"cannot replace the validator of {db.name}.{name} ({exc.details or exc}):"
            " collMod needs the dbAdmin role. Start once as a user with dbAdmin on"
            f" {db.name}, or have an administrator run the collMod with the validator in"
            " service/store/mongo/schema.py, then restart."
        ) from exc


async def _drop_index(collection: AsyncCollection, name: str) -> None:
    try:
        await collection.drop_index(name)
    except OperationFailure as exc:
        if exc.code != INDEX_NOT_FOUND:  # another worker dropped it a moment ago
            raise


async def _build_index(collection: AsyncCollection, change: IndexChange) -> None:
    """Build the new index, then drop the ones it replaces. When the server will not hold
    both at once (same name or key pattern), drop the old first: never a unique one
    (`index_changes` refuses those), so no guarantee lapses in between.

    A build commits once a majority of the voting, data-bearing members have it (not every
    one, the server's default), so a member that is down does not hold start-up."""
    spec = change.spec
    model = IndexModel(list(spec.keys), **spec.kwargs())
    try:
        try:
            await collection.create_indexes([model], commitQuorum="majority")
        except OperationFailure as exc:
            conflict = exc.code in (INDEX_OPTIONS_CONFLICT, INDEX_KEY_SPECS_CONFLICT)
            if not (conflict and change.replaces):
                raise
            for old in change.replaces:
                await _drop_index(collection, old)
            await collection.create_indexes([model], commitQuorum="majority")
            return
    except PyMongoError as exc:
        if exc.timeout:  # the server goes on building: nothing stands in its way
            raise MongoSetupError(
                index_build_unfinished(spec.name, collection.full_name, str(exc))
            ) from exc
        if not isinstance(exc, OperationFailure):
            raise
        raise MongoSetupError(
            f"cannot build the index {spec.name!r} ({dict(spec.keys)}, {spec.options}) on"
            f" {collection.full_name}: {exc.details or exc}. Remove what stands in its way (an"
            " index of the same name or keys, or documents that break its uniqueness),"
            " then restart."
        ) from exc
    for old in change.replaces:
        if old != spec.name:  # (a namesake would have blocked the build)
            await _drop_index(collection, old)


async def create_schema(db: AsyncDatabase, *, webhook_retention_days: int = 7) -> None:
    """Create collections, validators and indexes; replace indexes that contradict ours.
    Idempotent, and safe when several workers open the store at once. Raises
    MongoSetupError, saying what to do, when the database cannot be brought in line."""
    wanted = dict(INDEXES)
    for name, specs in delivered_ttl_indexes(webhook_retention_days * DAY).items():
        wanted[name] = [*wanted.get(name, []), *specs]
    names = set(await db.list_collection_names())
    for name, validator in VALIDATORS.items():
        try:
            if name not in names:
                await db.create_collection(name, validator=validator)
                continue
        except CollectionInvalid:
            pass  # another worker created it a moment ago
        except OperationFailure as exc:
            if exc.code != NAMESPACE_EXISTS:
                raise
        await _set_validator(db, name, validator)
    for name, specs in wanted.items():
        collection = db[name]
        existing = await (await collection.list_indexes()).to_list() if name in names else []
        for change in index_changes(name, existing, specs):
            await _build_index(collection, change)


@outages_unavailable(is_outage)
class MongoStore(
    MongoSites, MongoPackages, MongoMoney, MongoPayments, MongoOutbox, MongoFigures, MongoSettings
):
    """The Store on MongoDB (see `service.store.base.Store` for the contract)."""

    name = "mongodb"

    async def open(self) -> None:
        """Connect, refuse a server that cannot hold our money, bring the schema in line
        (within `index_build_timeout_ms`). Raises MongoSetupError saying, in one line, what
        went wrong and what to do: a bad URL, no server, a refusal, an unfinished index."""
        try:
            try:
                client = self.connect()
            except ValueError as exc:  # pymongo's URL parser raises some of these bare
                raise MongoSetupError(self._failure("MONGODB_URL is not usable", exc)) from exc
            try:
                hello = await client.admin.command("hello")
            except PyMongoError as exc:
                if not exc.timeout:
                    raise
                reason = secretless(str(exc), self.url)
                raise MongoSetupError(unreachable(reason, self.timeout_ms)) from exc
            refusal = server_refusal(hello)
            if refusal:
                raise MongoSetupError(refusal)
            with timeout(self.index_build_timeout_ms / 1000):
                await create_schema(self.db, webhook_retention_days=self.webhook_retention_days)
            refusal = await pending_entries_refusal(self.db)
            if refusal:
                raise MongoSetupError(refusal)
            await self._backfill_totals()
        except PyMongoError as exc:  # a URL pymongo refuses, or a failure MongoDB answered
            await self.close()
            raise MongoSetupError(self._failure("cannot open MongoDB at MONGODB_URL", exc)) from exc
        except BaseException:
            await self.close()
            raise
