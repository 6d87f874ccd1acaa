"""The MongoDB store on pymongo's async client: a replica set (one node is enough), Atlas,
or a sharded cluster's mongos, of MongoDB 5.0 or newer.

Money moves one way, in `mongo_money.py`: every money primitive runs in one multi-document
transaction (snapshot reads, majority commit, on the primary). `open()` reads `hello` and
refuses a standalone server, which has no transactions, and anything older than 5.0.

Outside money, every write is one single-document operation (compare-and-set status
transitions, outbox leases, counters), but for a batch of webhook attempts: their log and the
leases they release commit in one transaction. Every transaction, retries included, ends
within MONGODB_TIMEOUT_MS (`_transaction`). Reads and transactions go to the primary whatever
the URL's readPreference says: a money decision read from a lagging secondary is wrong.
Reads outside transactions are majority reads: an answer never rests on a write that a
failover could roll back. A commit whose outcome is unknown is answered by re-reading
what it wrote (`_settle`), never by a failure when it landed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote

from pymongo import (
    AsyncMongoClient,
    IndexModel,
    ReadPreference,
    ReturnDocument,
    UpdateMany,
    UpdateOne,
    timeout,
)
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    CollectionInvalid,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from ..domain.models import (
    AttemptOutcome,
    Balances,
    CheckoutSession,
    DeductResult,
    LedgerEntry,
    MoneyResult,
    NotifyFn,
    Package,
    PaymentIntentRecord,
    PurchaseCompletion,
    ReconcileReport,
    Site,
    User,
    UserSeed,
    WebhookDelivery,
    WebhookDraft,
    iso_from_unix,
    now_iso,
)
from .base import (
    CACHED,
    DuplicateError,
    StoreError,
    StoreUnavailableError,
    Totals,
    UnknownGrantError,
    entries_from_totals,
    figures_from_totals,
    merged_fields,
    outages_unavailable,
)
from .money_plan import (
    Change,
    ReversedGrant,
    check_repeat,
    deduct_ref,
    fold_reversals,
    net_revenue,
    revenue_change,
    welcome_changes,
)
from .mongo_documents import (
    NEWEST_FIRST,
    OLDEST_FIRST,
    PACKAGE_FIELDS,
    PENDING,
    attempt_doc,
    balances_from,
    delivery_doc,
    delivery_from,
    entry_from,
    intent_doc,
    intent_from,
    new_delivery,
    package_doc,
    package_from,
    session_doc,
    session_from,
    site_doc,
    site_from,
    transition_fields,
)
from .mongo_money import (
    add_totals,
    applied_entry,
    apply_change,
    balances_of,
    complete_purchase,
    pending_entries_refusal,
    reversal_plan,
)
from .mongo_schema import (
    CHECKOUT_SESSIONS,
    INDEXES,
    RATE_LIMIT_TTL_SECONDS,
    VALIDATORS,
    IndexChange,
    MongoSetupError,
    delivered_ttl_indexes,
    index_build_unfinished,
    index_changes,
    server_refusal,
    unreachable,
)

Session = AsyncClientSession | None


class MoneyAnswer(Protocol):
    """What a money primitive answers: the ledger entry it wrote or replayed, if any."""

    @property
    def entry(self) -> LedgerEntry | None: ...


R = TypeVar("R", bound=MoneyAnswer)
T = TypeVar("T")
Replay = Callable[[Session, LedgerEntry], Awaitable[R]]


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
Doc = dict[str, Any]

#: Values per `$in` query: one list of every reversed grant would outgrow a command's 16 MB.
IN_BATCH = 1000

#: The database when neither MONGODB_DATABASE nor the URL names one.
DEFAULT_DATABASE = "rakubun"
DAY = 24 * 3600

# MongoDB error codes met while creating the schema: two workers at once, an index that
# holds our index's name or key pattern with other options.
NAMESPACE_EXISTS, INDEX_NOT_FOUND = 48, 27
INDEX_OPTIONS_CONFLICT, INDEX_KEY_SPECS_CONFLICT = 85, 86


def database_from_url(url: str) -> str | None:
    """The database a MongoDB URL names in its path (`mongodb://host/<db>?...`), if any."""
    rest = url.split("://", 1)[-1]
    path = rest.split("?", 1)[0].partition("/")[2]
    return unquote(path) or None


def _secretless(text: str, url: str) -> str:
    """`text` without the password `url` carries, should a driver message quote it."""
    userinfo, at, _ = url.split("://", 1)[-1].partition("@")
    password = userinfo.partition(":")[2] if at else ""
    for secret in {password, unquote(password)} - {""}:
        text = text.replace(secret, "***")
    return text


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
            " service/store/mongo_schema.py, then restart."
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


async def _group(
    db: AsyncDatabase, collection: str, match: Doc, key: Any, value: Any, s: Session = None
) -> dict[Any, int]:
    """{key: sum(value)} over the documents matching `match`."""
    pipeline = [{"$match": match}, {"$group": {"_id": key, "total": {"$sum": value}}}]
    cursor = await db[collection].aggregate(pipeline, session=s)
    return {row["_id"]: int(row["total"]) async for row in cursor}


#: What a transaction's callback answers (`MongoStore._transaction`).
Outcome = TypeVar("Outcome")


#: Users per page of `reconcile`: one snapshot read each.
RECONCILE_PAGE = 500


def _after_user(key: tuple[str, str]) -> Doc:
    """The documents of users after `key` (site_id, user_id), in that order."""
    site_id, user_id = key
    return {
        "$or": [{"site_id": {"$gt": site_id}}, {"site_id": site_id, "user_id": {"$gt": user_id}}]
    }


@outages_unavailable(is_outage)
class MongoStore:
    """The Store on MongoDB (see `service.store.base.Store` for the contract)."""

    name = "mongodb"

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

    # ------------------------------------------------------------------ plumbing
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
                reason = _secretless(str(exc), self.url)
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

    def _failure(self, what: str, exc: BaseException) -> str:
        """`what: <the driver's reason>`, on one line, without the URL's password."""
        return f"{what}: {' '.join(_secretless(str(exc), self.url).split())}"

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

    # ------------------------------------------------------------------ sites
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

    # ------------------------------------------------------------------ users
    async def _user(self, doc: Doc | None) -> User | None:
        if doc is None:
            return None
        balances = await balances_of(self.db, None, doc["site_id"], doc["user_id"])
        return User(doc["site_id"], doc["user_id"], doc.get("email"), balances, doc["created_at"])

    async def ensure_user(
        self, site_id: str, user_id: str, email: str | None, free_credits: dict[str, int]
    ) -> User:
        key = {"site_id": site_id, "user_id": user_id}
        doc = await self.db.users.find_one(key)
        if doc is None:
            try:
                await self.db.users.insert_one(
                    {**key, "email": email, "created_at": now_iso(), "welcomed": False}
                )
            except DuplicateKeyError:
                pass  # a concurrent first sight created it
            doc = await self.db.users.find_one(key)
            assert doc is not None
        if not doc.get("welcomed", True):
            # Each welcome grant is exactly-once by its source_ref, so a caller that finds
            # the flag still down (a concurrent first sight, or a crash) may safely redo them.
            for change in welcome_changes(site_id, user_id, free_credits):
                await self._grant(change)
            await self.db.users.update_one(key, {"$set": {"welcomed": True}})
        if email and email != doc.get("email"):
            await self.db.users.update_one(key, {"$set": {"email": email}})
        user = await self.get_user(site_id, user_id)
        assert user is not None
        return user

    async def get_user(self, site_id: str, user_id: str) -> User | None:
        return await self._user(
            await self.db.users.find_one({"site_id": site_id, "user_id": user_id})
        )

    async def list_users(self, site_id: str, *, limit: int = 50, offset: int = 0) -> list[User]:
        cursor = self.db.users.find({"site_id": site_id}).sort(OLDEST_FIRST).skip(offset)
        docs = await cursor.limit(limit).to_list()
        ids = [d["user_id"] for d in docs]
        balances = {
            b["user_id"]: balances_from(b)
            async for b in self.db.balances.find({"site_id": site_id, "user_id": {"$in": ids}})
        }
        return [
            User(
                site_id,
                d["user_id"],
                d.get("email"),
                balances.get(d["user_id"], Balances()),
                d["created_at"],
            )
            for d in docs
        ]

    # ------------------------------------------------------------------ money
    async def grant_once(
        self,
        site_id: str,
        user_id: str,
        credit_type: str,
        credits: int,
        source_ref: str,
        *,
        kind: str = "purchase",
        reason: str | None = None,
        meta: dict[str, Any] | None = None,
        notify: NotifyFn | None = None,
        purchase: PurchaseCompletion | None = None,
    ) -> MoneyResult:
        change = Change(
            site_id, user_id, credit_type, credits, source_ref, kind, reason=reason, meta=meta or {}
        )
        return await self._grant(change, notify, purchase)

    async def _grant(
        self,
        change: Change,
        notify: NotifyFn | None = None,
        purchase: PurchaseCompletion | None = None,
    ) -> MoneyResult:
        """A grant, once per source_ref (a repeat replays the first)."""

        async def grant(s: AsyncClientSession) -> MoneyResult:
            if purchase is not None:
                await complete_purchase(self.db, s, purchase)
            entry, balances = await apply_change(self.db, s, change, notify)
            return MoneyResult(True, entry, balances)

        async def replay(s: Session, first: LedgerEntry) -> MoneyResult:
            if purchase is not None:
                await complete_purchase(self.db, s, purchase)
            balances = await balances_of(self.db, s, first.site_id, first.user_id)
            return MoneyResult(False, first, balances)

        return await self._once(change.source_ref, grant, replay)

    async def _covered(self, change: Change, notify: NotifyFn | None) -> DeductResult:
        """A change the balance must cover, once per source_ref (a repeat replays the first)."""

        async def apply(s: AsyncClientSession) -> DeductResult:
            entry, balances = await apply_change(self.db, s, change, notify)
            return DeductResult(entry is not None, entry, balances)

        async def replay(s: Session, first: LedgerEntry) -> DeductResult:
            check_repeat(first, change)
            balances = await balances_of(self.db, s, change.site_id, change.user_id)
            return DeductResult(True, first, balances, replayed=True)

        return await self._once(change.source_ref, apply, replay)

    async def deduct(
        self,
        site_id: str,
        user_id: str,
        credit_type: str,
        amount: int,
        *,
        idempotency_key: str | None = None,
        reason: str | None = None,
        notify: NotifyFn | None = None,
        ensure: UserSeed | None = None,
    ) -> DeductResult:
        # Without a key, a fresh ref: this call's own unknown commit is settled by it.
        source_ref = deduct_ref(site_id, user_id, idempotency_key)
        if ensure is not None:
            # Its own writes, before the deduction's (ensure_user's are idempotent already).
            await self.ensure_user(site_id, user_id, ensure.email, ensure.free_credits)
        change = Change(
            site_id, user_id, credit_type, -amount, source_ref, "deduction", 0, reason=reason
        )
        return await self._covered(change, notify)

    async def adjust(
        self,
        site_id: str,
        user_id: str,
        credit_type: str,
        delta: int,
        source_ref: str,
        *,
        reason: str,
        notify: NotifyFn | None = None,
    ) -> DeductResult:
        change = Change(
            site_id, user_id, credit_type, delta, source_ref, "adjustment", 0, reason=reason
        )
        return await self._covered(change, notify)

    async def reverse(
        self,
        grant_ref: str,
        credits: int,
        *,
        reason: str,
        bucket: str = "refund",
        version: int | None = None,
        notify: NotifyFn | None = None,
        meta: dict[str, Any] | None = None,
    ) -> MoneyResult:
        async def take_back(s: AsyncClientSession) -> MoneyResult:
            for _ in range(100):
                doc = await self.db.ledger.find_one({"source_ref": grant_ref}, session=s)
                if doc is None:
                    raise UnknownGrantError(grant_ref)
                grant = applied_entry(doc)  # a legacy pending grant gave nothing to take back
                plan = reversal_plan(doc, bucket, credits, version)
                revision = int(doc.get("revision") or 0)
                # Compare-and-set on the grant itself: concurrent reports serialise here.
                changed = await self.db.ledger.update_one(
                    {"source_ref": grant_ref, "revision": doc.get("revision")},
                    {
                        "$set": {
                            "reversed": plan.wanted,
                            "revision": revision + 1,
                            "reversals": {
                                b: {"target": t, "version": v} for b, (t, v) in plan.targets.items()
                            },
                        }
                    },
                    session=s,
                )
                if changed.matched_count == 1:
                    break
            else:
                raise StoreError(f"could not settle the reversals of {grant_ref!r}")
            change = plan.change(grant, revision + 1, reason=reason, bucket=bucket, meta=meta or {})
            if change is None:
                balances = await balances_of(self.db, s, grant.site_id, grant.user_id)
                return MoneyResult(False, None, balances)
            before = [
                (int(d["delta"]), d.get("meta") or {})
                async for d in self.db.ledger.find({"parent_ref": grant_ref}, session=s).sort(
                    OLDEST_FIRST
                )
            ]
            entry, balances = await apply_change(self.db, s, change, notify)
            assert entry is not None  # no floor: always applied
            if (revenue := revenue_change(grant.meta, grant.delta, before, entry)) is not None:
                await add_totals(self.db, s, [("revenue", *revenue)])
            return MoneyResult(True, entry, balances)

        return await self._atomic(take_back)

    async def get_ledger_entry(self, source_ref: str) -> LedgerEntry | None:
        doc = await self.db.ledger.find_one({"source_ref": source_ref})
        return applied_entry(doc) if doc else None

    async def list_ledger(
        self,
        *,
        site_id: str | None = None,
        user_id: str | None = None,
        credit_type: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[LedgerEntry]:
        query = {
            k: v
            for k, v in (("site_id", site_id), ("user_id", user_id), ("credit_type", credit_type))
            if v is not None
        }
        cursor = self.db.ledger.find(query).sort(NEWEST_FIRST).skip(offset).limit(limit)
        return [entry_from(d) async for d in cursor]

    async def reconcile(self) -> ReconcileReport:
        """Every balance against its ledger sum, a page of users at a time, each page in a
        snapshot session of its own (a user's balance and ledger read together; no snapshot
        has to outlive the server's history window, however large the ledger)."""
        assert self._client is not None, "store is not open"
        pending: dict[tuple[str, str, str], list[str]] = {}
        async for d in self.db.ledger.find({"state": PENDING}):
            key = (d["site_id"], d["user_id"], d["credit_type"])
            pending.setdefault(key, []).append(d["source_ref"])
        checked, differences = 0, []
        after: tuple[str, str] | None = None
        while True:
            async with self._client.start_session(snapshot=True) as session:
                count, found, after = await self._reconcile_page(session, after, pending)
            checked += count
            differences += found
            if after is None:
                return ReconcileReport(checked, differences)

    async def _reconcile_page(
        self,
        s: Session,
        after: tuple[str, str] | None,
        pending: dict[tuple[str, str, str], list[str]],
    ) -> tuple[int, list[dict[str, Any]], tuple[str, str] | None]:
        """As SQLite's: the users after `after`, RECONCILE_PAGE of them (the last page
        open-ended, so ledger entries of a user without balances are found too)."""
        low: Doc = _after_user(after) if after else {}
        docs = (
            await self.db.balances.find(low, session=s)
            .sort([("site_id", 1), ("user_id", 1)])
            .limit(RECONCILE_PAGE)
            .to_list()
        )
        last = (docs[-1]["site_id"], docs[-1]["user_id"]) if len(docs) == RECONCILE_PAGE else None
        match = {"$and": [low, {"$nor": [_after_user(last)]}]} if last else low
        balances = {
            (d["site_id"], d["user_id"], t): int(b)
            for d in await self.db.balances.find(match, session=s).to_list()
            for t, b in (d.get("credits") or {}).items()
        }
        group = {"_id": {"s": "$site_id", "u": "$user_id", "t": "$credit_type"}}
        sums = {
            (r["_id"]["s"], r["_id"]["u"], r["_id"]["t"]): int(r["total"])
            async for r in await self.db.ledger.aggregate(
                [{"$match": match}, {"$group": {**group, "total": {"$sum": "$delta"}}}],
                session=s,
            )
        }
        differences = []
        for key in sorted(balances.keys() | sums.keys()):
            balance, total = balances.get(key, 0), sums.get(key, 0)
            if balance != total:
                site_id, user_id, credit_type = key
                row: dict[str, Any] = {
                    "site_id": site_id,
                    "user_id": user_id,
                    "credit_type": credit_type,
                    "balance": balance,
                    "ledger_sum": total,
                }
                if key in pending:
                    row["pending_refs"] = pending[key]
                differences.append(row)
        return len(balances), differences, last

    # ------------------------------------------------------------------ packages
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

    # ------------------------------------------------------------------ sessions and intents
    async def create_checkout_session(self, session: CheckoutSession) -> None:
        async def insert(s: AsyncClientSession) -> None:
            await self.db[CHECKOUT_SESSIONS].insert_one(session_doc(session), session=s)
            await add_totals(self.db, s, [("revenue", session.currency.upper(), session.amount)])

        try:
            if session.status == "completed":  # counted in revenue with its insert
                await self._transaction(insert)
            else:
                await self.db[CHECKOUT_SESSIONS].insert_one(session_doc(session))
        except DuplicateKeyError as exc:
            raise DuplicateError("session_id") from exc

    async def get_checkout_session(self, session_id: str) -> CheckoutSession | None:
        doc = await self.db[CHECKOUT_SESSIONS].find_one({"session_id": session_id})
        return session_from(doc) if doc else None

    async def get_checkout_session_by_payment_intent(
        self, payment_intent_id: str
    ) -> CheckoutSession | None:
        doc = await self.db[CHECKOUT_SESSIONS].find_one({"payment_intent_id": payment_intent_id})
        return session_from(doc) if doc else None

    async def link_checkout_payment_intent(self, session_id: str, payment_intent_id: str) -> bool:
        result = await self.db[CHECKOUT_SESSIONS].update_one(
            {"session_id": session_id, "payment_intent_id": None},
            {"$set": {"payment_intent_id": payment_intent_id}},
        )
        return result.matched_count == 1

    async def transition_checkout_session(
        self, session_id: str, from_status: str, to_status: str, fields: dict[str, Any]
    ) -> bool:
        query = {"session_id": session_id, "status": from_status}
        update = {"$set": {"status": to_status, **transition_fields(fields, dates=True)}}
        if (from_status == "completed") == (to_status == "completed"):
            result = await self.db[CHECKOUT_SESSIONS].update_one(query, update)
            return result.matched_count == 1

        async def move(s: AsyncClientSession) -> bool:  # revenue moves with the status
            doc = await self.db[CHECKOUT_SESSIONS].find_one_and_update(query, update, session=s)
            if doc is None:
                return False
            sign = 1 if to_status == "completed" else -1
            amount = sign * int(doc["amount"])
            await add_totals(self.db, s, [("revenue", str(doc["currency"]).upper(), amount)])
            return True

        return await self._transaction(move)

    async def create_payment_intent(self, intent: PaymentIntentRecord) -> None:
        async def insert(s: AsyncClientSession) -> None:
            await self.db.payment_intents.insert_one(intent_doc(intent), session=s)
            await add_totals(self.db, s, [("revenue", intent.currency.upper(), intent.amount)])

        try:
            if intent.status == "completed":  # counted in revenue with its insert
                await self._transaction(insert)
            else:
                await self.db.payment_intents.insert_one(intent_doc(intent))
        except DuplicateKeyError as exc:
            raise DuplicateError("payment_intent_id") from exc

    async def get_payment_intent(self, payment_intent_id: str) -> PaymentIntentRecord | None:
        doc = await self.db.payment_intents.find_one({"payment_intent_id": payment_intent_id})
        return intent_from(doc) if doc else None

    # ------------------------------------------------------------------ Stripe events
    async def stripe_event_seen(self, event_id: str) -> bool:
        return await self.db.stripe_events.find_one({"event_id": event_id}) is not None

    async def stripe_event_outcome(self, event_id: str) -> str | None:
        doc = await self.db.stripe_events.find_one({"event_id": event_id}, {"outcome": 1})
        return str(doc["outcome"]) if doc else None

    async def record_stripe_event(self, event_id: str, event_type: str, outcome: str) -> bool:
        try:
            await self.db.stripe_events.insert_one(
                {
                    "event_id": event_id,
                    "type": event_type,
                    "outcome": outcome,
                    "processed_at": now_iso(),
                }
            )
        except DuplicateKeyError:
            return False
        return True

    # ------------------------------------------------------------------ outbox
    async def enqueue_webhook(self, draft: WebhookDraft) -> WebhookDelivery:
        delivery = new_delivery(draft)
        await self.db.webhook_outbox.insert_one(delivery_doc(delivery, draft))
        return delivery

    async def claim_due_webhooks(
        self, owner: str, *, now: float, lease_seconds: float, limit: int, include_scheduled: bool
    ) -> list[WebhookDelivery]:
        # Each claim is a single-document compare-and-set, so two workers (or machines)
        # never lease the same delivery; no transaction needed.
        query: Doc = {
            "status": "pending",
            "$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}],
        }
        if not include_scheduled:
            query["next_attempt_at"] = {"$lte": now}
        claimed: list[WebhookDelivery] = []
        while len(claimed) < limit:
            doc = await self.db.webhook_outbox.find_one_and_update(
                query,
                {"$set": {"lease_owner": owner, "lease_until": now + lease_seconds}},
                sort=OLDEST_FIRST,
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                break
            claimed.append(delivery_from(doc))
        return claimed

    async def record_webhook_attempts(self, owner: str, outcomes: Sequence[AttemptOutcome]) -> None:
        if not outcomes:
            return
        attempts = [attempt_doc(o.delivery_id, o.attempt) for o in outcomes]
        # The TTL index deletes a delivered webhook's attempts with it (every attempt's).
        expiries = [
            UpdateMany(
                {"delivery_id": o.delivery_id},
                {"$set": {"delivered_on": datetime.fromtimestamp(o.attempt.at, UTC)}},
            )
            for o in outcomes
            if o.delivered
        ]
        releases = [
            UpdateOne(
                {"delivery_id": o.delivery_id, "lease_owner": owner},
                {
                    "$set": {
                        "status": o.status,
                        "attempts": o.attempt.attempt,
                        "next_attempt_at": o.next_attempt_at,
                        "last_status_code": o.attempt.status_code,
                        "last_error": o.attempt.error,
                        "delivered_at": iso_from_unix(o.attempt.at) if o.delivered else None,
                        "delivered_on": (
                            datetime.fromtimestamp(o.attempt.at, UTC) if o.delivered else None
                        ),
                        "lease_owner": None,
                        "lease_until": None,
                    }
                },
            )
            for o in outcomes
        ]

        async def record(s: AsyncClientSession) -> None:
            await self.db.webhook_attempts.insert_many(attempts, ordered=False, session=s)
            if expiries:
                await self.db.webhook_attempts.bulk_write(expiries, ordered=False, session=s)
            await self.db.webhook_outbox.bulk_write(releases, ordered=False, session=s)

        # One transaction, as the Store promises one write: an attempt is never logged
        # without its delivery's new state, nor a lease released without its attempt.
        await self._transaction(record)

    async def _with_attempts(self, docs: list[Doc]) -> list[WebhookDelivery]:
        ids = [d["delivery_id"] for d in docs]
        attempts: dict[str, list[Doc]] = {i: [] for i in ids}
        async for a in self.db.webhook_attempts.find({"delivery_id": {"$in": ids}}):
            attempts[a["delivery_id"]].append(a)
        return [delivery_from(d, attempts[d["delivery_id"]]) for d in docs]

    async def get_webhook_delivery(self, delivery_id: str) -> WebhookDelivery | None:
        doc = await self.db.webhook_outbox.find_one({"delivery_id": delivery_id})
        return (await self._with_attempts([doc]))[0] if doc else None

    async def list_webhook_deliveries(
        self, site_id: str, *, limit: int = 50, offset: int = 0
    ) -> list[WebhookDelivery]:
        cursor = self.db.webhook_outbox.find({"site_id": site_id}).sort(NEWEST_FIRST)
        return await self._with_attempts(await cursor.skip(offset).limit(limit).to_list())

    async def retry_webhook_delivery(
        self, delivery_id: str, *, now: float
    ) -> WebhookDelivery | None:
        await self.db.webhook_outbox.update_one(
            {"delivery_id": delivery_id},
            {
                "$set": {"status": "pending", "next_attempt_at": now, "delivered_at": None},
                "$unset": {"delivered_on": ""},
            },
        )
        await self.db.webhook_attempts.update_many(
            {"delivery_id": delivery_id}, {"$unset": {"delivered_on": ""}}
        )
        return await self.get_webhook_delivery(delivery_id)

    async def prune_webhooks(self, delivered_before: float, *, batch: int = 200) -> int:
        # The TTL indexes do this on the server; the sweep (by the same index) also runs where
        # the TTL monitor lags. Deliveries from before `delivered_on` are left: see operating.md.
        cutoff = datetime.fromtimestamp(delivered_before, UTC)
        query = {"status": "delivered", "delivered_on": {"$lt": cutoff}}
        pruned = 0
        while True:
            found = self.db.webhook_outbox.find(query, {"delivery_id": 1}).limit(batch)
            ids = [d["delivery_id"] async for d in found]
            if ids:
                await self.db.webhook_attempts.delete_many({"delivery_id": {"$in": ids}})
                await self.db.webhook_outbox.delete_many({**query, "delivery_id": {"$in": ids}})
            pruned += len(ids)
            if len(ids) < batch:
                return pruned

    async def count_pending_webhooks(self) -> int:
        return await self.db.webhook_outbox.count_documents({"status": "pending"})

    async def outbox_backlog(self) -> dict[str, Any]:
        outbox = self.db.webhook_outbox
        oldest = await outbox.find_one(
            {"status": "pending"}, {"created_at": 1}, sort=[("created_at", 1)]
        )
        return {
            "pending": await outbox.count_documents({"status": "pending"}),
            "failed": await outbox.count_documents({"status": "failed"}),
            "oldest_pending_at": oldest["created_at"] if oldest else None,
        }

    async def count_ledger_entries(self) -> dict[str, int]:
        return entries_from_totals(await self._totals())

    async def _totals(self, s: Session = None) -> Totals:
        totals: Totals = {}
        async for doc in self.db.totals.find({"metric": {"$exists": True}}, session=s):
            key = (doc["metric"], doc["key"])
            totals[key] = totals.get(key, 0) + int(doc["value"])
        return totals

    async def scan_totals(self, s: Session = None) -> Totals:
        """The running totals as a scan of the ledger and the purchases computes them: what
        the backfill starts from, and what the totals must always equal."""
        db = self.db
        group = {"_id": {"k": "$kind", "t": "$credit_type"}, "sum": {"$sum": "$delta"}}
        totals: Totals = {}
        cursor = await db.ledger.aggregate([{"$group": {**group, "count": {"$sum": 1}}}], session=s)
        async for row in cursor:
            kind, credit_type = row["_id"]["k"], row["_id"]["t"]
            totals[("credits", f"{kind}:{credit_type}")] = int(row["sum"])
            totals[("entries", kind)] = totals.get(("entries", kind), 0) + int(row["count"])
        gross: dict[str, int] = {}
        for collection in (CHECKOUT_SESSIONS, "payment_intents"):
            sums = await _group(
                db, collection, {"status": "completed"}, {"$toUpper": "$currency"}, "$amount", s
            )
            for currency, total in sums.items():
                gross[currency] = gross.get(currency, 0) + total
        for currency, value in net_revenue(gross, await self._reversed_grants(s)).items():
            totals[("revenue", currency)] = value
        return totals

    async def _backfill_totals(self) -> None:
        """Fill the running totals from a scan, once per database (a `scanned` marker): in one
        transaction that also clears what writes before it left, so no write is counted
        twice or missed (a write racing it conflicts, and one of them runs again)."""
        if await self.db.totals.find_one({"_id": "scanned"}):
            return

        async def backfill(s: AsyncClientSession) -> None:
            if await self.db.totals.find_one({"_id": "scanned"}, session=s):
                return
            totals = await self.scan_totals(s)
            await self.db.totals.delete_many({}, session=s)
            docs = [
                {"_id": f"{metric}|{key}|0", "metric": metric, "key": key, "value": value}
                for (metric, key), value in totals.items()
            ]
            await self.db.totals.insert_many([*docs, {"_id": "scanned"}], session=s)

        try:
            # A whole-ledger scan: bounded like the schema work, not like one request.
            await self._transaction(backfill, limit_ms=self.index_build_timeout_ms)
        except DuplicateKeyError:
            pass  # another worker backfilled at the same moment

    # ------------------------------------------------------------------ analytics, settings
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

    # ------------------------------------------------------------------ what workers cache
    async def _bump(self, name: str) -> None:
        """Tell every worker's cache of `name` (on every machine) that it changed. Bumped
        after the write it follows, so a cache that saw the new version reads the new data."""
        await self.db[CACHE_VERSIONS].update_one(
            {"_id": name}, {"$inc": {"version": 1}}, upsert=True
        )

    async def cache_versions(self) -> dict[str, int]:
        found = {doc["_id"]: int(doc["version"]) async for doc in self.db[CACHE_VERSIONS].find({})}
        return {name: found.get(name, 0) for name in CACHED}

    # ------------------------------------------------------------------ rate limits
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

    # ------------------------------------------------------------------ figures
    async def stats(self) -> dict[str, Any]:
        db = self.db
        sites = await _group(db, "sites", {}, "$status", 1)
        webhooks = await _group(db, "webhook_outbox", {}, "$status", 1)
        return {
            "sites": {
                "total": sum(sites.values()),
                "active": sites.get("active", 0),
                "disabled": sites.get("disabled", 0),
            },
            "users": await db.users.count_documents({}),
            **figures_from_totals(await self._totals()),
            "webhooks": webhooks,
        }

    async def _reversed_grants(self, s: Session = None) -> list[ReversedGrant]:
        entries = self.db.ledger.find(
            {"kind": {"$in": ["reversal", "restore"]}},
            {"parent_ref": 1, "delta": 1, "meta": 1},
            session=s,
        ).sort(OLDEST_FIRST)
        taken = fold_reversals(
            [(d["parent_ref"], int(d["delta"]), d.get("meta") or {}) async for d in entries]
        )
        refs = list(taken)
        found: list[ReversedGrant] = []
        for start in range(0, len(refs), IN_BATCH):
            grants = self.db.ledger.find(
                {"source_ref": {"$in": refs[start : start + IN_BATCH]}},
                {"source_ref": 1, "delta": 1, "meta": 1},
                session=s,
            )
            found += [
                ReversedGrant(g.get("meta") or {}, int(g["delta"]), *taken[g["source_ref"]])
                async for g in grants
            ]
        return found
