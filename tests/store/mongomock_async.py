"""mongomock behind the face of pymongo's AsyncMongoClient, for the `mongomock` backend.

This is NOT MongoDB. mongomock checks the shapes of what MongoStore sends, not MongoDB's
semantics; the real server runs in the hosted-CI workflow (`tox -e e2e-mongo`) and wherever
MONGODB_URL or a Docker engine exists (the `mongo` backend). So that the offline run still
catches what a lenient fake would hide, this shim is strict where MongoStore's guarantees
live:

- it answers `hello` as a replica-set primary of MongoDB 7 (a test can make it a standalone);
- `with_transaction` runs its callback holding the whole server: other callers wait, so
  nobody sees a transaction's writes before it commits (stricter than MongoDB's snapshot
  isolation, which likewise shows only committed data); a callback that raises is rolled
  back (the collections it wrote are restored);
- every transaction's first attempt fails at commit, after all its writes, with a simulated
  transient error (`TransientTransactionError`, as a write conflict does); it is rolled back
  and the callback runs again from the start: proof that callbacks are safe to re-run;
- inside a transaction, an operation called without its `session=` raises
  MissingSessionError (MongoDB would quietly run it outside the transaction);
- collections' `$jsonSchema` validators are applied to every write (error 121), through the
  `jsonschema` library with BSON types added;
- index builds conflict as a server's do (codes 85 and 86), and the options mongomock forgets
  (partialFilterExpression, sparse) come back from listIndexes;
- TTL indexes delete nothing on their own (mongomock's would, on every read, ignoring partial
  filters): `ShimServer.ttl_pass(now)` deletes what MongoDB's TTL monitor would at `now`.

A test arms the faults MongoStore must survive, each used once (see ShimServer):
`fail_operation` (a transient error in the middle of a callback, an operation timeout),
`fail_commit` (an unknown commit result, after the writes landed or not) and `interleave`
(a second transaction that runs and commits between a first's read and write: the first's
next write that touches a document the second wrote, or whose filter matches it as it was
before, fails with a WriteConflict, as on MongoDB, and the first runs again; its reads in
between see the second's writes, which MongoDB's snapshot would not).

Every call first yields to the event loop, so concurrent coroutines interleave between the
adapter's steps as concurrent clients do, while each call stays atomic as one server
operation is.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import bson
import jsonschema
import mongomock
from mongomock.filtering import filter_applies
from pymongo import IndexModel, ReturnDocument, UpdateMany, UpdateOne
from pymongo.errors import (
    AutoReconnect,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WriteError,
)

REPLICA_SET_HELLO: dict[str, Any] = {
    "isWritablePrimary": True,
    "setName": "rs0",
    "hosts": ["127.0.0.1:27017"],
    "maxWireVersion": 21,
    "logicalSessionTimeoutMinutes": 30,
    "ok": 1.0,
}
STANDALONE_HELLO: dict[str, Any] = {
    "isWritablePrimary": True,
    "maxWireVersion": 21,
    "logicalSessionTimeoutMinutes": 30,
    "ok": 1.0,
}

WRITES = frozenset(
    {
        "insert_one",
        "insert_many",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "find_one_and_update",
        "find_one_and_replace",
        "find_one_and_delete",
        "bulk_write",
    }
)

#: Writes whose first argument is a filter.
FILTERED_WRITES = WRITES - {"insert_one", "insert_many", "bulk_write"}

INDEX_OPTIONS_CONFLICT, INDEX_KEY_SPECS_CONFLICT, INDEX_NOT_FOUND = 85, 86, 27


class MissingSessionError(AssertionError):
    """An operation inside a transaction was called without its transaction's session."""


#: The session whose transaction (or snapshot) the current task is inside.
_inside: contextvars.ContextVar[AsyncSession | None] = contextvars.ContextVar(
    "mongomock_shim_session", default=None
)
#: True in a transaction that `interleave` runs while another one holds the server.
_interleaved: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "mongomock_shim_interleaved", default=False
)

#: A document of one collection: (database, collection, _id).
DocKey = tuple[str, str, Any]


# ---------------------------------------------------------------------------- validators
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


BSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list | tuple),
    "bool": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "int": _is_int,
    "long": _is_int,
    "double": lambda v: isinstance(v, float),
    "decimal": lambda v: isinstance(v, bson.Decimal128),
    "number": lambda v: _is_int(v) or isinstance(v, float | bson.Decimal128),
    "date": lambda v: isinstance(v, datetime.datetime),
    "objectId": lambda v: isinstance(v, bson.ObjectId),
}


def _type_check(check: Callable[[Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda _checker, value: check(value)


_BsonValidator = jsonschema.validators.extend(
    jsonschema.Draft4Validator,  # MongoDB's $jsonSchema is draft 4 with bsonType added
    type_checker=jsonschema.Draft4Validator.TYPE_CHECKER.redefine_many(
        {name: _type_check(check) for name, check in BSON_TYPES.items()}
    ),
)


def json_schema(rule: Any) -> Any:
    """A `$jsonSchema` as a JSON schema: `bsonType` becomes `type`, over our BSON types."""
    if isinstance(rule, dict):
        return {("type" if k == "bsonType" else k): json_schema(v) for k, v in rule.items()}
    if isinstance(rule, list):
        return [json_schema(v) for v in rule]
    return rule


def validation_errors(doc: dict[str, Any], validator: dict[str, Any]) -> list[str]:
    """Why `doc` fails a collection validator (only `$jsonSchema` is understood)."""
    if set(validator) != {"$jsonSchema"}:
        raise NotImplementedError(f"the shim applies only $jsonSchema validators: {validator}")
    schema = _BsonValidator(json_schema(validator["$jsonSchema"]))
    return [
        f"{'.'.join(map(str, e.path)) or '<doc>'}: {e.message}" for e in schema.iter_errors(doc)
    ]


# ---------------------------------------------------------------------------- the server
class ShimServer:
    """One in-memory server, shared by every client (and store) a test opens on it."""

    def __init__(
        self,
        *,
        hello: dict[str, Any] | None = None,
        retry_every_transaction: bool = True,
        refuse_collmod: bool = False,
    ) -> None:
        self.mongo = mongomock.MongoClient(tz_aware=True)
        self.hello = dict(REPLICA_SET_HELLO if hello is None else hello)
        self.retry_every_transaction = retry_every_transaction
        self.refuse_collmod = refuse_collmod
        self.validators: dict[tuple[str, str], dict[str, Any]] = {}
        self.index_options: dict[tuple[str, str, str], dict[str, Any]] = {}
        #: Held by a transaction or snapshot from start to end; every other call waits.
        self.lock = asyncio.Lock()
        self.transaction_options: list[dict[str, Any]] = []
        self.commits = 0
        self.transient_retries = 0
        self.rollbacks = 0
        self._operation_faults: list[tuple[str, str, PyMongoError]] = []
        self._commit_faults: list[CommitFault] = []
        self._interleavings: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = []
        #: Every operation called inside a transaction: (op, collection), in order.
        self.transaction_calls: list[tuple[str, str]] = []

    # ------------------------------------------------------------------ faults a test arms
    def fail_operation(self, op: str, collection: str, error: PyMongoError) -> None:
        """The next `op` on `collection` (e.g. "insert_one", "ledger") raises `error` before
        it runs: inside a transaction, in the middle of its callback."""
        self._operation_faults.append((op, collection, error))

    def fail_commit(
        self,
        error: PyMongoError,
        *,
        landed: bool,
        meanwhile: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        """The next transaction that reaches its commit raises `error` there (after the
        first attempt's simulated transient error, when every transaction has one); its
        writes stay when `landed`, else they are rolled back. `meanwhile()` runs to the end
        before the error is raised, as another client, while this one waits for its commit."""
        self._commit_faults.append(CommitFault(error, landed, meanwhile))

    def interleave(self, op: str, collection: str, run: Callable[[], Awaitable[Any]]) -> None:
        """Just before the next `op` on `collection` inside a transaction, run `run()` to the
        end, as another client whose transactions commit meanwhile. The paused transaction
        must not have written yet to a collection that `run` writes."""
        self._interleavings.append((op, collection, run))

    def _take(self, faults: list[Any], op: str, collection: str) -> Any:
        for i, fault in enumerate(faults):
            if fault[:2] == (op, collection):
                return faults.pop(i)[2]
        return None

    def take_operation_fault(self, op: str, collection: str) -> PyMongoError | None:
        return self._take(self._operation_faults, op, collection)

    def take_interleaving(self, op: str, collection: str) -> Callable[[], Awaitable[Any]] | None:
        return self._take(self._interleavings, op, collection)

    def take_commit_fault(self) -> CommitFault | None:
        return self._commit_faults.pop(0) if self._commit_faults else None

    def documents(self) -> dict[DocKey, Any]:
        """Every document of every database, by (database, collection, _id)."""
        return {
            (db_name, name, doc["_id"]): doc
            for db_name in self.mongo.list_database_names()
            for name in self.mongo[db_name].list_collection_names()
            for doc in self.mongo[db_name][name].find({})
        }

    def ttl_pass(self, now: datetime.datetime) -> int:
        """Delete what MongoDB's TTL monitor would at `now`, and answer how many: for each
        index with expireAfterSeconds on one field, the documents its partial filter matches
        whose date there (the earliest, for an array of dates) is at least that old."""
        deleted = 0
        for db_name in self.mongo.list_database_names():
            for name in self.mongo[db_name].list_collection_names():
                collection = self.mongo[db_name][name]
                for index in collection.list_indexes():
                    options = {
                        **index,
                        **self.index_options.get((db_name, name, index["name"]), {}),
                    }
                    keys = list(dict(options["key"]))
                    if options.get("expireAfterSeconds") is None or len(keys) != 1:
                        continue
                    cutoff = now - datetime.timedelta(seconds=int(options["expireAfterSeconds"]))
                    query = {
                        keys[0]: {"$lte": cutoff},
                        **options.get("partialFilterExpression", {}),
                    }
                    deleted += collection.delete_many(query).deleted_count
        return deleted


@dataclass(frozen=True)
class CommitFault:
    """An error a commit raises, having `landed` or not (see ShimServer.fail_commit)."""

    error: PyMongoError
    landed: bool
    meanwhile: Callable[[], Awaitable[Any]] | None = None

    async def strike(self) -> None:
        if self.meanwhile is not None:
            await as_other_client(self.meanwhile)
        raise self.error


async def as_other_client(run: Callable[[], Awaitable[Any]]) -> None:
    """Run `run()` to the end as another client, while this task holds the server."""

    async def other_client() -> None:
        _inside.set(None)
        _interleaved.set(True)
        await run()

    await asyncio.create_task(other_client())  # its own context: the vars stay there


def transient_error(where: str = "at commit") -> OperationFailure:
    """A write conflict, labelled as MongoDB labels one inside a transaction."""
    return OperationFailure(
        f"WriteConflict (simulated by the mongomock shim {where})",
        code=112,
        details={
            "code": 112,
            "codeName": "WriteConflict",
            "errorLabels": ["TransientTransactionError"],
        },
    )


def unknown_commit_error() -> PyMongoError:
    """What pymongo raises when the connection drops during commitTransaction and its own
    commit retries run out: whether the transaction committed is unknown."""
    error = AutoReconnect("connection closed during commitTransaction (simulated by the shim)")
    error._add_error_label("UnknownTransactionCommitResult")
    return error


def operation_timeout(*, during_commit: bool = False) -> PyMongoError:
    """An operation that ran out of its time (timeoutMS); pymongo labels one met during
    commitTransaction UnknownTransactionCommitResult."""
    error = ExecutionTimeout(
        "operation exceeded time limit (simulated by the shim)",
        50,
        {"code": 50, "codeName": "MaxTimeMSExpired"},
    )
    if during_commit:
        error._add_error_label("UnknownTransactionCommitResult")
    return error


class AsyncSession:
    """A client session: `with_transaction`, or a snapshot held for the session's life."""

    def __init__(self, server: ShimServer, *, snapshot: bool = False) -> None:
        self._server = server
        self.snapshot = snapshot
        self.in_transaction = False
        self._saved: dict[tuple[str, str], tuple[mongomock.Collection, list[Any]]] = {}
        self._token: contextvars.Token[AsyncSession | None] | None = None
        #: Documents an interleaved transaction wrote since this one started, as they were.
        self.conflicts: dict[DocKey, Any] = {}

    async def __aenter__(self) -> AsyncSession:
        if self.snapshot:  # one consistent view for every read of the session
            _refuse_nesting()
            if not _interleaved.get():
                await self._server.lock.acquire()
            self._token = _inside.set(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._token is not None:
            _inside.reset(self._token)
            self._token = None
            if not _interleaved.get():
                self._server.lock.release()

    def remember(self, collection: mongomock.Collection) -> None:
        """Keep a collection's documents before the transaction first writes to it."""
        key = (collection.database.name, collection.name)
        if key not in self._saved:
            self._saved[key] = (collection, list(collection.find({})))

    def _roll_back(self) -> None:
        for collection, docs in self._saved.values():
            _restore(collection, docs)
        self._saved = {}
        self._server.rollbacks += 1

    async def with_transaction(
        self,
        callback: Callable[[AsyncSession], Awaitable[Any]],
        read_concern: Any = None,
        write_concern: Any = None,
        read_preference: Any = None,
        max_commit_time_ms: int | None = None,
    ) -> Any:
        """pymongo's contract: run `callback(session)`; on a TransientTransactionError abort
        and run it again; any other error aborts and propagates."""
        _refuse_nesting()
        await asyncio.sleep(0)  # a client's first transactional call goes over the wire too
        server = self._server
        server.transaction_options.append(
            {
                "read_concern": read_concern,
                "write_concern": write_concern,
                "read_preference": read_preference,
            }
        )
        async with contextlib.nullcontext() if _interleaved.get() else server.lock:
            token = _inside.set(self)
            try:
                for attempt in (1, 2, 3):
                    self.in_transaction, self._saved, self.conflicts = True, {}, {}
                    fault = None
                    try:
                        result = await callback(self)
                        if attempt == 1 and server.retry_every_transaction:
                            raise transient_error()
                        fault = server.take_commit_fault()
                        if fault is not None and not fault.landed:
                            raise fault.error
                    except BaseException as exc:
                        self._roll_back()
                        if fault is not None and exc is fault.error:
                            self.in_transaction = False
                            await fault.strike()
                        if (
                            isinstance(exc, PyMongoError)
                            and attempt < 3
                            and exc.has_error_label("TransientTransactionError")
                        ):
                            server.transient_retries += 1
                            continue
                        raise
                    finally:
                        self.in_transaction = False
                    server.commits += 1
                    if fault is not None:  # it landed; the client cannot tell
                        await fault.strike()
                    return result
                raise AssertionError("unreachable")
            finally:
                _inside.reset(token)


def _refuse_nesting() -> None:
    if _inside.get() is not None:
        raise MissingSessionError("a transaction or snapshot started inside another one")


def _restore(collection: mongomock.Collection, docs: list[Any]) -> None:
    collection.delete_many({})
    if docs:
        collection.insert_many(docs)


# ---------------------------------------------------------------------------- collections
class AsyncCursor:
    def __init__(self, collection: AsyncCollection, cursor: Any, session: Any) -> None:
        self._collection = collection
        self._cursor = cursor
        self._session = session

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
        return await self._collection.run("find", lambda: list(self._cursor), self._session)

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        for doc in await self.to_list():
            yield doc


def _evaluate(expression: Any, doc: dict[str, Any]) -> Any:
    """The few aggregation expressions MongoStore uses in pipeline updates."""
    if isinstance(expression, str) and expression.startswith("$"):
        return doc.get(expression[1:])
    if isinstance(expression, dict) and len(expression) == 1:
        ((op, arg),) = expression.items()
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
    def __init__(self, server: ShimServer, collection: mongomock.Collection) -> None:
        self._server = server
        self._c = collection
        self.name = collection.name
        self.full_name = collection.full_name
        self._key = (collection.database.name, collection.name)

    async def run(
        self, op: str, call: Callable[[], Any], session: Any, query: dict[str, Any] | None = None
    ) -> Any:
        """Run one server operation: in the caller's transaction when it has one (which
        then needs its session), else after any running transaction has finished."""
        await asyncio.sleep(0)
        inside = _inside.get()
        if inside is not None:
            if session is not inside:
                raise MissingSessionError(
                    f"{self.full_name}.{op} called inside a transaction without its session="
                    if session is None
                    else f"{self.full_name}.{op} with another session"
                )
            if inside.in_transaction:
                self._server.transaction_calls.append((op, self.name))
            if inside.in_transaction and (run := self._server.take_interleaving(op, self.name)):
                await self._interleave(inside, run)
            if error := self._server.take_operation_fault(op, self.name):
                raise error
            if op in WRITES:
                if not inside.in_transaction:
                    raise OperationFailure(f"{op} in a snapshot session (they only read)", 263)
                inside.remember(self._c)
                if inside.conflicts:
                    return self._unless_conflicting(inside, op, call, query)
            return self._validated(op, call)
        if error := self._server.take_operation_fault(op, self.name):
            raise error
        if _interleaved.get():  # the paused transaction holds the lock for us
            return self._validated(op, call)
        async with self._server.lock:
            return self._validated(op, call)

    async def _interleave(self, paused: AsyncSession, run: Callable[[], Awaitable[Any]]) -> None:
        """Run `run()` as another client, while `paused` holds the server; what it writes
        becomes `paused`'s write conflicts."""
        before = self._server.documents()
        await as_other_client(run)
        after = self._server.documents()
        written = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        if {k[:2] for k in written} & paused._saved.keys():
            raise AssertionError("interleave: the paused transaction already wrote there")
        paused.conflicts.update({k: before.get(k) for k in written})

    def _unless_conflicting(
        self, inside: AsyncSession, op: str, call: Callable[[], Any], query: dict[str, Any] | None
    ) -> Any:
        """Run a write in a transaction that an interleaving overtook. On MongoDB it would
        find documents in its snapshot, from before the other transaction: one whose filter
        matches a document the other wrote, as it was, or that touches one, conflicts."""
        overtaken = {k[2]: old for k, old in inside.conflicts.items() if k[:2] == self._key}
        if query is not None and any(
            old is not None and filter_applies(query, old) for old in overtaken.values()
        ):
            raise transient_error("on a document another transaction wrote")
        before = {d["_id"]: d for d in self._c.find({})}
        result = self._validated(op, call)
        after = {d["_id"]: d for d in self._c.find({})}
        touched = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        if touched & overtaken.keys():
            _restore(self._c, list(before.values()))
            raise transient_error("on a document another transaction wrote")
        return result

    def _validated(self, op: str, call: Callable[[], Any]) -> Any:
        validator = self._server.validators.get(self._key) if op in WRITES else None
        if validator is None:
            return call()
        before = list(self._c.find({}))
        result = call()
        old = {d["_id"]: d for d in before}
        for doc in self._c.find({}):
            if old.get(doc["_id"]) != doc and (errors := validation_errors(doc, validator)):
                _restore(self._c, before)
                raise WriteError(
                    "Document failed validation",
                    121,
                    {
                        "code": 121,
                        "errmsg": "Document failed validation",
                        "errInfo": {"details": errors},
                    },
                )
        return result

    def find(self, *args: Any, session: Any = None, **kwargs: Any) -> AsyncCursor:
        return AsyncCursor(self, self._c.find(*args, **kwargs), session)

    async def aggregate(
        self, pipeline: list[dict[str, Any]], *, session: Any = None, **kwargs: Any
    ) -> AsyncCursor:
        rows = await self.run(
            "aggregate", lambda: list(self._c.aggregate(pipeline, **kwargs)), session
        )
        return AsyncCursor(self, iter(rows), session)

    async def list_indexes(self, *, session: Any = None) -> AsyncCursor:
        def listed() -> list[dict[str, Any]]:
            return [
                {**i, **self._server.index_options.get((*self._key, i["name"]), {})}
                for i in self._c.list_indexes()
            ]

        return AsyncCursor(self, iter(await self.run("list_indexes", listed, session)), session)

    async def create_indexes(
        self, models: list[IndexModel], *, session: Any = None, **kwargs: Any
    ) -> list[str]:
        return await self.run(
            "create_indexes", lambda: [self._create_index(m) for m in models], session
        )

    def _create_index(self, model: IndexModel) -> str:
        """Build one index, refusing as a server does one that clashes with an existing
        index by name or key pattern."""
        want = dict(model.document)
        keys, name = dict(want.pop("key")), want.pop("name")
        for index in self._c.list_indexes():
            have = {**index, **self._server.index_options.get((*self._key, index["name"]), {})}
            have_keys = {
                k: int(v) if isinstance(v, float) else v for k, v in dict(have.pop("key")).items()
            }
            have.pop("v", None)
            have_name = have.pop("name")
            if have_name != name and have_keys != keys:
                continue
            if have_name == name and have_keys != keys:
                raise OperationFailure(
                    f"index {name} exists with other keys", INDEX_KEY_SPECS_CONFLICT
                )
            if have != want or have_name != name:
                raise OperationFailure(
                    f"an index like {name} exists with other options or another name ({have_name})",
                    INDEX_OPTIONS_CONFLICT,
                )
            return name  # the same index: nothing to do
        self._c.create_indexes([model])
        self._c._store._ttl_indexes.clear()  # see ttl_pass: mongomock's TTL ignores filters
        remembered = {
            k: want[k]
            for k in ("partialFilterExpression", "sparse", "expireAfterSeconds")
            if k in want
        }
        self._server.index_options[(*self._key, name)] = remembered
        return name

    async def drop_index(self, name: str, *, session: Any = None) -> None:
        def drop() -> None:
            if name not in {i["name"] for i in self._c.list_indexes()}:
                raise OperationFailure(f"index not found with name [{name}]", INDEX_NOT_FOUND)
            self._c.drop_index(name)
            self._server.index_options.pop((*self._key, name), None)

        await self.run("drop_index", drop, session)

    async def find_one_and_update(
        self, query: dict[str, Any], update: Any, *, session: Any = None, **kwargs: Any
    ) -> dict[str, Any] | None:
        if not isinstance(update, list):
            return await self.run(
                "find_one_and_update",
                lambda: self._c.find_one_and_update(query, update, **kwargs),
                session,
                query,
            )

        def pipeline_update() -> dict[str, Any] | None:
            # One $set stage, evaluated here: mongomock lacks $mergeObjects.
            doc = self._c.find_one(query)
            if doc is None:
                return None
            (stage,) = update
            values = {k: _evaluate(v, doc) for k, v in stage["$set"].items()}
            self._c.update_one({"_id": doc["_id"]}, {"$set": values})
            after = kwargs.get("return_document") == ReturnDocument.AFTER
            return self._c.find_one({"_id": doc["_id"]}) if after else doc

        return await self.run("find_one_and_update", pipeline_update, session, query)

    async def bulk_write(
        self, requests: list[Any], *, ordered: bool = True, session: Any = None
    ) -> None:
        """UpdateOne and UpdateMany requests only (all the adapter sends), applied in order:
        mongomock's own bulk_write refuses the arguments current pymongo's UpdateOne carries."""

        def apply() -> None:
            for request in requests:
                if isinstance(request, UpdateOne):
                    update = self._c.update_one
                elif isinstance(request, UpdateMany):
                    update = self._c.update_many
                else:
                    raise NotImplementedError(f"bulk_write of {type(request).__name__}")
                update(request._filter, request._doc, upsert=bool(request._upsert))

        await self.run("bulk_write", apply, session)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._c, name)

        async def call(*args: Any, session: Any = None, **kwargs: Any) -> Any:
            query = args[0] if args and name in FILTERED_WRITES else None
            return await self.run(name, lambda: method(*args, **kwargs), session, query)

        return call


class AsyncDatabase:
    def __init__(self, server: ShimServer, db: mongomock.Database) -> None:
        self._server = server
        self._db = db
        self.name = db.name

    def __getitem__(self, name: str) -> AsyncCollection:
        return AsyncCollection(self._server, self._db[name])

    def __getattr__(self, name: str) -> AsyncCollection:
        return AsyncCollection(self._server, self._db[name])

    async def list_collection_names(self, **kwargs: Any) -> list[str]:
        return self._db.list_collection_names()

    async def list_collections(self, filter: dict[str, Any]) -> AsyncCursor:
        names = [n for n in self._db.list_collection_names() if n == filter["name"]]
        infos = [
            {"name": n, "options": {"validator": self._server.validators.get((self.name, n))}}
            for n in names
        ]
        return AsyncCursor(self[filter["name"]], iter(infos), None)

    async def create_collection(self, name: str, **kwargs: Any) -> AsyncCollection:
        validator = kwargs.pop("validator", None)
        collection = self._db.create_collection(name, **kwargs)
        if validator is not None:
            self._server.validators[(self.name, name)] = validator
        return AsyncCollection(self._server, collection)

    async def command(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if name != "collMod":
            raise NotImplementedError(f"the shim does not run {name}")
        if self._server.refuse_collmod:
            raise OperationFailure(
                f"not authorized on {self.name} to execute command {{ collMod: ... }}",
                13,
                {"code": 13, "codeName": "Unauthorized"},
            )
        if "validator" in kwargs:
            self._server.validators[(self.name, args[0])] = kwargs["validator"]
        return {"ok": 1}


class AsyncAdmin:
    def __init__(self, server: ShimServer) -> None:
        self._server = server

    async def command(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if name == "hello":
            return dict(self._server.hello)
        if name == "ping":
            return {"ok": 1.0}
        raise NotImplementedError(f"the shim does not run {name}")


class AsyncMongoClient:
    """A client of one ShimServer (a fresh one when none is given)."""

    def __init__(self, server: ShimServer | None = None) -> None:
        self.server = server or ShimServer()
        self.admin = AsyncAdmin(self.server)
        self.database_options: dict[str, dict[str, Any]] = {}

    def get_database(self, name: str, **kwargs: Any) -> AsyncDatabase:
        self.database_options[name] = kwargs
        return AsyncDatabase(self.server, self.server.mongo[name])

    def start_session(self, *, snapshot: bool = False, **kwargs: Any) -> AsyncSession:
        return AsyncSession(self.server, snapshot=snapshot)

    async def close(self) -> None:
        pass
