"""The MongoDB client, its database and the transactions every aggregate of `MongoStore` runs.

Invariant: reads and transactions go to the primary whatever the URL's readPreference says (a
money decision read from a lagging secondary is wrong); reads outside transactions are
majority reads; every transaction, retries included, ends within MONGODB_TIMEOUT_MS
(`_transaction`); a commit whose outcome is unknown is answered by re-reading what it wrote
(`_settle`), never by a failure when it landed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote

from pymongo import AsyncMongoClient, ReadPreference, timeout
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from ...domain.models import LedgerEntry
from ..base import CACHED, StoreError, StoreUnavailableError
from .documents import applied_entry

Session = AsyncClientSession | None
Doc = dict[str, Any]


class MoneyAnswer(Protocol):
    """What a money primitive answers: the ledger entry it wrote or replayed, if any."""

    @property
    def entry(self) -> LedgerEntry | None: ...


R = TypeVar("R", bound=MoneyAnswer)
Replay = Callable[[Session, LedgerEntry], Awaitable[R]]


#: What a transaction's callback answers (`MongoStore._transaction`).
Outcome = TypeVar("Outcome")


def outcome_unknown(exc: PyMongoError) -> bool:
    """True when a transaction may have committed although its commit raised: pymongo's
    UnknownTransactionCommitResult, or the operation's time ran out."""
    return exc.has_error_label("UnknownTransactionCommitResult") or exc.timeout


def is_outage(exc: BaseException) -> bool:
    """True for a driver error that says MongoDB did not answer (a timeout, no server to
    select, a lost connection, a transaction left transient or unknown); not for an answer
    MongoDB gave (a duplicate key, a refused command)."""
    if not isinstance(exc, PyMongoError):
        return False
    return (
        isinstance(exc, ConnectionFailure)
        or exc.timeout
        or exc.has_error_label("TransientTransactionError")
        or exc.has_error_label("UnknownTransactionCommitResult")
    )


#: The message of a money change whose commit could not be settled either way.
OUTCOME_UNKNOWN = "the commit's outcome is unknown"


#: One document per name in CACHED: `{_id: "sites", version: n}`.
CACHE_VERSIONS = "cache_versions"


#: The database when neither MONGODB_DATABASE nor the URL names one.
DEFAULT_DATABASE = "rakubun"


def database_from_url(url: str) -> str | None:
    """The database a MongoDB URL names in its path (`mongodb://host/<db>?...`), if any."""
    rest = url.split("://", 1)[-1]
    path = rest.split("?", 1)[0].partition("/")[2]
    return unquote(path) or None


def secretless(text: str, url: str) -> str:
    """`text` without the password `url` carries, should a driver message quote it."""
    userinfo, at, _ = url.split("://", 1)[-1].partition("@")
    password = userinfo.partition(":")[2] if at else ""
    for secret in {password, unquote(password)} - {""}:
        text = text.replace(secret, "***")
    return text


class MongoConnection:
    """The client, database and transactions of one MongoStore; each aggregate mixin extends it."""

    def __init__(
        self,
        url: str,
        *,
        database: str | None = None,
        client: AsyncMongoClient | None = None,
        timeout_ms: int = 10000,
        index_build_timeout_ms: int = 600_000,
        webhook_retention_days: int = 7,
    ) -> None:
        """`database` (MONGODB_DATABASE) wins; else the one `url` names; else "rakubun".
        `client`, when given, is used instead of connecting to `url` (and left open).
        `timeout_ms` (pymongo's timeoutMS, winning over the URL's) bounds each operation,
        finding a server included, and each transaction, its retries included;
        `index_build_timeout_ms` bounds the schema work of `open()`, index builds included."""
        self.url = url
        self.database = database or database_from_url(url) or DEFAULT_DATABASE
        self.timeout_ms = timeout_ms
        self.index_build_timeout_ms = index_build_timeout_ms
        self.webhook_retention_days = webhook_retention_days
        self._given_client = client
        self._client: AsyncMongoClient | None = None
        self._db: AsyncDatabase | None = None

    @property
    def db(self) -> AsyncDatabase:
        assert self._db is not None, "store is not open"
        return self._db

    def connect(self) -> AsyncMongoClient:
        """The client (not yet connected: pymongo connects on first use)."""
        if self._client is None:
            self._client = self._given_client or AsyncMongoClient(
                self.url,
                tz_aware=True,
                appname="rakubun-dashboard",
                read_preference=ReadPreference.PRIMARY,
                # timeoutMS also bounds server selection: a serverSelectionTimeoutMS is moot.
                timeoutMS=self.timeout_ms,
            )
        # Acknowledged means journaled on a majority; reads from the primary, of what a
        # majority holds (a failover cannot roll back what an answer was built from).
        self._db = self._client.get_database(
            self.database,
            read_preference=ReadPreference.PRIMARY,
            read_concern=ReadConcern("majority"),
            write_concern=WriteConcern(w="majority", j=True),
        )
        return self._client

    def _failure(self, what: str, exc: BaseException) -> str:
        """`what: <the driver's reason>`, on one line, without the URL's password."""
        return f"{what}: {' '.join(secretless(str(exc), self.url).split())}"

    async def close(self) -> None:
        if self._client is not None and self._client is not self._given_client:
            await self._client.close()
        self._client = self._db = None

    async def ping(self) -> bool:
        try:
            assert self._client is not None
            await self._client.admin.command("ping")
        except (PyMongoError, AssertionError):
            return False
        return True

    async def _atomic(
        self,
        op: Callable[[AsyncClientSession], Awaitable[R]],
        replay: Replay[R] | None = None,
    ) -> R:
        """Run a money operation in one transaction, the only way money moves. `op` must
        pass its session to every call and may run more than once: `with_transaction`
        retries it from the start on a transient error (a write conflict with another
        caller, a primary stepping down), within `_transaction`'s deadline. A commit whose
        outcome is unknown is settled by `_settle`."""
        answers: list[R] = []  # what the last attempt answered, if it got that far

        async def attempt(s: AsyncClientSession) -> R:
            answers.clear()
            answers.append(await op(s))
            return answers[0]

        try:
            return await self._transaction(attempt)
        except PyMongoError as exc:
            if not (outcome_unknown(exc) and answers):
                raise
            try:
                return await self._settle(answers[0], exc, replay)
            except PyMongoError as unsettled:
                if answers[0].entry is None:
                    raise  # the attempt wrote nothing: nothing can have landed
                raise StoreUnavailableError(OUTCOME_UNKNOWN, outcome_unknown=True) from unsettled

    async def _transaction(
        self,
        op: Callable[[AsyncClientSession], Awaitable[Outcome]],
        limit_ms: int | None = None,
    ) -> Outcome:
        """`op` in one transaction (snapshot reads, a majority commit, on the primary), run
        again from the start on a transient error, until `timeout_ms` (or `limit_ms`) after it
        began; then
        pymongo raises ExecutionTimeout (code 50). Nothing committed then, unless the
        deadline passed while a commit's result was unknown (a retried commit may have
        landed)."""
        assert self._client is not None, "store is not open"
        # One deadline for the whole transaction: alone, with_transaction retries for 120 s.
        with timeout((limit_ms or self.timeout_ms) / 1000):
            async with self._client.start_session() as session:
                return await session.with_transaction(
                    op,
                    read_concern=ReadConcern("snapshot"),
                    write_concern=WriteConcern(w="majority", j=True),
                    read_preference=ReadPreference.PRIMARY,
                )

    async def _settle(self, answer: R, exc: PyMongoError, replay: Replay[R] | None) -> R:
        """The answer to a transaction whose commit raised `exc` with an unknown outcome,
        from a majority read of the ledger entry its last attempt wrote (or replayed): that
        entry committed, so `answer` stands; another caller's entry under its source_ref is
        replayed; none (or nothing written) leaves the outcome unknown, and `exc` is raised
        for the caller to retry under the same source_ref."""
        entry = answer.entry
        if entry is None:
            raise exc
        found = await self.db.ledger.find_one({"source_ref": entry.source_ref})
        if found is None:
            raise exc
        if found.get("transaction_id") == entry.transaction_id:
            return answer
        if replay is None:
            raise exc
        return await replay(None, applied_entry(found))

    async def _once(
        self,
        source_ref: str,
        change: Callable[[AsyncClientSession], Awaitable[R]],
        replay: Replay[R],
    ) -> R:
        """Run `change` once per source_ref; when that ref is already in the ledger, answer
        `replay(first entry)` instead. The lookup runs in the change's own transaction:
        when a concurrent caller commits the same ref after this snapshot, this one's
        writes conflict and it runs again, finding the entry, so a retry replays the first
        result and is never refused by a balance the first one spent."""

        async def once(s: AsyncClientSession) -> R:
            first = await self.db.ledger.find_one({"source_ref": source_ref}, session=s)
            if first is not None:
                return await replay(s, applied_entry(first))
            return await change(s)

        clash: DuplicateKeyError | None = None
        for _ in range(3):
            try:
                return await self._atomic(once, replay)
            except DuplicateKeyError as exc:
                # A concurrent caller committed source_ref first: the next turn replays its
                # entry. Any other unique key that raced is worth one more try, too.
                clash = exc
        raise StoreError(f"could not settle {source_ref!r} against concurrent callers") from clash

    async def _bump(self, name: str) -> None:
        """Tell every worker's cache of `name` (on every machine) that it changed. Bumped
        after the write it follows, so a cache that saw the new version reads the new data."""
        await self.db[CACHE_VERSIONS].update_one(
            {"_id": name}, {"$inc": {"version": 1}}, upsert=True
        )

    async def cache_versions(self) -> dict[str, int]:
        found = {doc["_id"]: int(doc["version"]) async for doc in self.db[CACHE_VERSIONS].find({})}
        return {name: found.get(name, 0) for name in CACHED}
