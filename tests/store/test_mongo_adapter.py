"""MongoStore's start-up checks and transactions, on the strict mongomock shim.

The shim is NOT MongoDB (see mongomock_async.py): these tests check what the adapter sends
and refuses, offline. MongoDB's own behaviour is checked by the conformance suite's `mongo`
backend on a real replica set, in the hosted-CI workflow and wherever MONGODB_URL or a
Docker engine exists.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("mongomock", reason="mongomock not installed")

import pymongo  # noqa: E402
from bson import Decimal128  # noqa: E402
from pymongo import IndexModel, ReadPreference  # noqa: E402
from pymongo.errors import (  # noqa: E402
    AutoReconnect,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WriteError,
)

from service.domain.models import AttemptOutcome, WebhookAttempt  # noqa: E402
from service.flows import stripe_events  # noqa: E402
from service.store import StoreError, StoreUnavailableError  # noqa: E402
from service.store.money_plan import Change  # noqa: E402
from service.store.mongo import MongoStore  # noqa: E402
from service.store.mongo import figures as mongo_figures  # noqa: E402
from service.store.mongo import money as mongo_money  # noqa: E402
from service.store.mongo.connection import secretless  # noqa: E402
from service.store.mongo.documents import session_doc  # noqa: E402
from service.store.mongo.schema import (  # noqa: E402
    CHECKOUT_SESSIONS,
    VALIDATORS,
    IndexChange,
    IndexSpec,
    MongoSetupError,
)
from service.store.mongo.store import _build_index  # noqa: E402

from .builders import draft, new_session, new_site, notify_plugin  # noqa: E402
from .mongomock_async import (  # noqa: E402
    STANDALONE_HELLO,
    AsyncMongoClient,
    MissingSessionError,
    ShimServer,
    operation_timeout,
    transient_error,
    unknown_commit_error,
)
from .mongomock_async import AsyncCollection as ShimCollection  # noqa: E402

URL = "mongodb://mongomock.invalid/?replicaSet=rs0"
DB = "rakubun_test"
SEED_VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "properties": {"site_id": {"bsonType": "objectId"}, "user_id": {"bsonType": "int"}},
    }
}


@pytest.fixture
async def make_store() -> AsyncIterator[Callable[[ShimServer], MongoStore]]:
    """A MongoStore on a given shim server (not opened); closed afterwards."""
    made: list[MongoStore] = []

    def make(server: ShimServer) -> MongoStore:
        store = MongoStore(URL, database=DB, client=AsyncMongoClient(server))  # type: ignore[arg-type]
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


# ---------------------------------------------------------------------------- the server
async def test_a_standalone_server_is_refused_before_anything_is_written(make_store) -> None:
    server = ShimServer(hello=STANDALONE_HELLO)
    with pytest.raises(MongoSetupError, match="standalone") as raised:
        await make_store(server).open()
    assert "rs.initiate()" in str(raised.value)
    assert server.mongo[DB].list_collection_names() == []


async def test_a_server_older_than_5_0_is_refused(make_store) -> None:
    server = ShimServer(hello={**ShimServer().hello, "maxWireVersion": 9})
    with pytest.raises(MongoSetupError, match="5.0 or newer"):
        await make_store(server).open()


async def test_a_mongos_is_accepted(make_store) -> None:
    hello = {k: v for k, v in ShimServer().hello.items() if k != "setName"}
    store = make_store(ShimServer(hello={**hello, "msg": "isdbgrid"}))
    await store.open()
    assert await store.ping()


async def test_reads_and_transactions_go_to_the_primary(make_store) -> None:
    server = ShimServer()
    store = make_store(server)
    await store.open()
    assert store._client.database_options[DB]["read_preference"] == ReadPreference.PRIMARY
    await store.grant_once("site_1", "42", "article", 5, "checkout:cs_1")
    options = server.transaction_options[-1]
    assert options["read_preference"] == ReadPreference.PRIMARY
    assert options["read_concern"].level == "snapshot"
    assert options["write_concern"].document == {"w": "majority", "j": True}


async def test_a_urls_read_preference_and_timeout_are_overridden() -> None:
    # Built, never connected: pymongo's async client connects on first use.
    store = MongoStore(
        "mongodb://127.0.0.1:9/shop?replicaSet=rs0&readPreference=secondary&timeoutMS=30000",
        timeout_ms=2500,
    )
    client = store.connect()
    try:
        assert store.db.name == "shop"
        assert store.db.read_preference == ReadPreference.PRIMARY
        assert client.options.timeout == 2.5
    finally:
        await client.close()


URL_NOBODY_ANSWERS = (
    "mongodb://app:s3cret-pw@127.0.0.1:9/shop?replicaSet=rs0&serverSelectionTimeoutMS=60000"
)


async def test_no_server_at_the_url_fails_open_within_the_timeout_in_one_line() -> None:
    """pymongo itself against a closed port (nothing listens on 127.0.0.1:9): finding a
    server is bounded by timeout_ms, whatever serverSelectionTimeoutMS the URL says."""
    store = MongoStore(URL_NOBODY_ANSWERS, timeout_ms=300)
    started = time.monotonic()
    with pytest.raises(MongoSetupError) as raised:
        await store.open()
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert message.startswith("MongoDB at MONGODB_URL did not answer within MONGODB_TIMEOUT_MS")
    assert "127.0.0.1:9" in message and "Topology Description" not in message
    assert "\n" not in message and "s3cret-pw" not in message
    assert store._client is None  # closed


@pytest.mark.parametrize(
    "url",
    [
        "mongodb://app:s3cret%2Fpw@127.0.0.1:27017/?replicaSet=rs0",
        "mongodb+srv://app:s3cret%2Fpw@cluster.example.test/shop",
    ],
)
def test_a_start_up_message_never_carries_the_urls_password(url: str) -> None:
    said = f"bad auth for {url} (password s3cret/pw, quoted s3cret%2Fpw)"
    cleaned = secretless(said, url)
    assert "s3cret" not in cleaned and cleaned.count("***") == 3


def test_a_url_without_a_password_leaves_the_message_alone() -> None:
    said = "127.0.0.1:9: [Errno 111] Connection refused"
    assert secretless(said, "mongodb://127.0.0.1:9/?replicaSet=rs0") == said
    assert secretless(said, "mongodb://app@127.0.0.1:9/") == said


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://127.0.0.1:9/", "cannot open MongoDB at MONGODB_URL: Invalid URI scheme"),
        ("mongodb://app:s3cret-pw@127.0.0.1:port/", "MONGODB_URL is not usable: Port"),
    ],
)
async def test_a_url_pymongo_refuses_fails_open_in_one_line(url: str, reason: str) -> None:
    with pytest.raises(MongoSetupError) as raised:
        await MongoStore(url, timeout_ms=300).open()
    assert str(raised.value).startswith(reason)
    assert "\n" not in str(raised.value) and "s3cret-pw" not in str(raised.value)


# ---------------------------------------------------------------------------- schema
async def test_a_validator_that_cannot_be_replaced_fails_start_up(make_store) -> None:
    server = ShimServer(refuse_collmod=True)
    server.mongo[DB].create_collection(CHECKOUT_SESSIONS)
    server.validators[(DB, CHECKOUT_SESSIONS)] = SEED_VALIDATOR  # as the seed created it
    with pytest.raises(MongoSetupError, match="dbAdmin"):
        await make_store(server).open()


async def test_the_shim_applies_validators_to_what_the_adapter_writes(make_store) -> None:
    server = ShimServer()
    store = make_store(server)
    await store.open()
    session = new_session("site_1")
    await store.create_checkout_session(session)  # ours passes
    with pytest.raises(WriteError) as raised:
        await store.db[CHECKOUT_SESSIONS].insert_one(
            {**session_doc(new_session("site_1")), "user_id": 42}
        )
    assert raised.value.code == 121
    with pytest.raises(WriteError):  # an update is checked too, and undone
        await store.db[CHECKOUT_SESSIONS].update_one(
            {"session_id": session.session_id}, {"$set": {"status": "paid"}}
        )
    assert (await store.get_checkout_session(session.session_id)).status == session.status


async def test_a_unique_index_in_the_way_fails_start_up_and_stays(make_store) -> None:
    server = ShimServer()
    ledger = server.mongo[DB].ledger
    ledger.create_indexes(
        [IndexModel([("source_ref", 1), ("site_id", 1)], name="source_ref_unique", unique=True)]
    )
    with pytest.raises(MongoSetupError, match="never dropped automatically"):
        await make_store(server).open()
    assert "source_ref_unique" in {i["name"] for i in ledger.list_indexes()}


async def test_a_text_index_is_left_alone(make_store) -> None:
    server = ShimServer()
    ledger = server.mongo[DB].ledger
    ledger.create_indexes([IndexModel([("reason", "text")], name="reason_text")])
    await make_store(server).open()
    assert "reason_text" in {i["name"] for i in ledger.list_indexes()}


async def test_an_index_that_cannot_be_built_fails_start_up_with_what_to_do(make_store) -> None:
    server = ShimServer()
    server.mongo[DB].ledger.insert_many([{"source_ref": "same"}, {"source_ref": "same"}])
    with pytest.raises(MongoSetupError, match="source_ref_unique.*break its uniqueness"):
        await make_store(server).open()


@pytest.fixture
def index_builds(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The shim's index builds, spied on: each build's options and the deadline it ran
    under are recorded; a build of an index named in `times_out` raises the timeout a
    server answers when the client's deadline passes mid-build."""
    seen: dict[str, Any] = {"options": [], "deadlines": [], "times_out": set()}
    create_indexes = ShimCollection.create_indexes

    async def spied(self: ShimCollection, models: list[IndexModel], **options: Any) -> Any:
        seen["options"].append(options)
        seen["deadlines"].append(pymongo._csot.get_timeout())  # what pymongo.timeout set
        if {m.document["name"] for m in models} & seen["times_out"]:
            raise ExecutionTimeout("operation exceeded time limit", 50, {"code": 50})
        return await create_indexes(self, models, **options)

    monkeypatch.setattr(ShimCollection, "create_indexes", spied)
    return seen


async def test_index_builds_run_under_their_own_bound_with_a_majority_quorum(
    make_store, index_builds: dict[str, Any]
) -> None:
    """On the shim, spied on: pymongo applies the deadline and sends the commitQuorum."""
    store = make_store(ShimServer())
    store.timeout_ms, store.index_build_timeout_ms = 1000, 600_000
    await store.open()
    assert index_builds["deadlines"] and set(index_builds["deadlines"]) == {600.0}
    assert all(o == {"commitQuorum": "majority"} for o in index_builds["options"])


async def test_an_index_still_building_at_the_bound_says_so(
    make_store, index_builds: dict[str, Any]
) -> None:
    """On the shim, whose build of `status_due` answers a timeout as a server does."""
    index_builds["times_out"].add("status_due")
    with pytest.raises(MongoSetupError) as raised:
        await make_store(ShimServer()).open()
    message = str(raised.value)
    assert "'status_due'" in message and "was still building" in message
    assert "MONGODB_INDEX_BUILD_TIMEOUT_MS" in message and "rs.status()" in message
    assert "stands in its way" not in message


async def test_a_replacement_index_is_built_before_the_old_one_is_dropped() -> None:
    calls: list[str] = []

    class Collection:  # a server that holds both at once (different names and keys)
        full_name = "rakubun.ledger"

        async def create_indexes(self, models: list[IndexModel], **options: Any) -> None:
            calls.extend(f"create {m.document['name']}" for m in models)

        async def drop_index(self, name: str) -> None:
            calls.append(f"drop {name}")

    spec = IndexSpec((("kind", 1), ("credit_type", 1)), "kind_credit_type")
    await _build_index(Collection(), IndexChange(spec, ("kind_1",)))  # type: ignore[arg-type]
    assert calls == ["create kind_credit_type", "drop kind_1"]


# ---------------------------------------------------------------------------- transactions
async def test_a_call_inside_a_transaction_without_its_session_fails_in_the_shim() -> None:
    client = AsyncMongoClient(ShimServer(retry_every_transaction=False))
    ledger = client.get_database(DB).ledger

    async def forgets_its_session(s: Any) -> None:
        await ledger.insert_one({"source_ref": "a"}, session=s)
        await ledger.insert_one({"source_ref": "b"})

    async with client.start_session() as session:
        with pytest.raises(MissingSessionError, match="without its session="):
            await session.with_transaction(forgets_its_session)
    assert await ledger.count_documents({}) == 0  # rolled back


async def test_an_adapter_step_that_drops_its_session_is_caught(
    make_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(ShimServer())
    await store.open()
    touch_user = mongo_money.touch_user

    async def without_session(db: Any, s: Any, site_id: str, user_id: str) -> None:
        await touch_user(db, None, site_id, user_id)

    monkeypatch.setattr(mongo_money, "touch_user", without_session)
    with pytest.raises(MissingSessionError):
        await store.grant_once("site_1", "42", "article", 5, "checkout:cs_1")
    assert await store.get_ledger_entry("checkout:cs_1") is None


async def test_money_moves_only_inside_a_transaction(make_store) -> None:
    store = make_store(ShimServer())
    await store.open()
    with pytest.raises(RuntimeError, match="only inside a transaction"):
        await mongo_money.apply_change(
            store.db,
            store._client.start_session(),
            Change("site_1", "42", "article", 5, "x", "purchase"),
        )


async def test_every_transaction_retried_from_a_transient_error_still_moves_money_once(
    make_store,
) -> None:
    server = ShimServer(retry_every_transaction=True)
    store = make_store(server)
    await store.open()
    opening = (server.commits, server.transient_retries)  # the totals' backfill
    site = await store.create_site(new_site())
    await store.grant_once(site.site_id, "42", "article", 10, "checkout:cs_1")
    result = await store.deduct(site.site_id, "42", "article", 3, idempotency_key="k")
    await store.reverse("checkout:cs_1", 2, reason="refund")
    assert (server.commits - opening[0], server.transient_retries - opening[1]) == (3, 3)
    assert result.ok and result.entry.balance_after == 7
    user = await store.get_user(site.site_id, "42")
    assert user.balances.of("article") == 5
    assert len(await store.list_ledger(site_id=site.site_id)) == 3
    assert (await store.reconcile()).ok


async def test_a_transaction_gives_up_at_the_operation_timeout_retries_included() -> None:
    """pymongo's own with_transaction, not the shim (a transaction that has sent nothing
    needs no server): alone, it retries a transient error for 120 s."""
    store = MongoStore("mongodb://127.0.0.1:9/?replicaSet=rs0", timeout_ms=200)
    store.connect()  # never reaches a server: the callback fails before its first call
    attempts = 0

    async def conflicts(s: Any) -> None:
        nonlocal attempts
        attempts += 1
        raise OperationFailure(
            "WriteConflict", 112, {"code": 112, "errorLabels": ["TransientTransactionError"]}
        )

    started = time.monotonic()
    try:
        async with asyncio.timeout(10):  # a guard: without the bound this runs for 120 s
            with pytest.raises(PyMongoError) as raised:
                await store._atomic(conflicts)
    finally:
        await store.close()
    assert raised.value.timeout
    assert attempts > 1  # retried, until the deadline
    assert time.monotonic() - started < 5


async def test_a_failed_transaction_leaves_nothing_behind(make_store) -> None:
    store = make_store(ShimServer())
    await store.open()
    site = await store.create_site(new_site())
    await store.grant_once(site.site_id, "42", "article", 10, "checkout:cs_1")
    with pytest.raises(ZeroDivisionError):
        await store.grant_once(
            site.site_id, "42", "article", 5, "checkout:cs_2", notify=lambda entry, balances: 1 / 0
        )
    assert (await store.get_user(site.site_id, "42")).balances.of("article") == 10
    assert await store.get_ledger_entry("checkout:cs_2") is None


# ---------------------------------------------------------------------------- order
async def test_newest_first_follows_creation_time_not_object_id(make_store) -> None:
    store = make_store(ShimServer())
    await store.open()
    later = await store.create_site(new_site(created_at="2026-01-02T00:00:00.000000Z"))
    earlier = await store.create_site(new_site(created_at="2026-01-01T00:00:00.000000Z"))
    tie_a = await store.create_site(new_site(created_at="2025-12-31T00:00:00.000000Z"))
    tie_b = await store.create_site(new_site(created_at="2025-12-31T00:00:00.000000Z"))
    assert [s.site_id for s in await store.list_sites()] == [
        later.site_id,
        earlier.site_id,
        tie_b.site_id,
        tie_a.site_id,
    ]


async def test_a_reconcile_page_reads_one_snapshot_with_its_session(make_store) -> None:
    store = make_store(ShimServer())
    await store.open()
    site = await store.create_site(new_site())
    await store.grant_once(site.site_id, "42", "article", 10, "checkout:cs_1")
    client = store._client
    async with client.start_session(snapshot=True) as session:
        with pytest.raises(MissingSessionError):  # inside a snapshot, a call needs it too
            await store.db.ledger.count_documents({})
        checked, differences, last = await store._reconcile_page(session, None, {})
    assert (checked, differences, last) == (3, [], None)


# ---------------------------------------------------------------------------- the shim's faults
# Each fault below is produced by the shim (not MongoDB): see mongomock_async.ShimServer.
@pytest.fixture
async def shim() -> AsyncIterator[tuple[ShimServer, Callable[[], Any]]]:
    """A shim server without the blanket first-attempt retry, and a maker of opened stores
    on it (several stores act as several workers)."""
    server = ShimServer(retry_every_transaction=False)
    made: list[MongoStore] = []

    async def open_one() -> MongoStore:
        store = MongoStore(URL, database=DB, client=AsyncMongoClient(server))  # type: ignore[arg-type]
        await store.open()
        made.append(store)
        return store

    yield server, open_one
    for store in made:
        await store.close()


async def ledger_docs(store: MongoStore) -> list[dict[str, Any]]:
    return await store.db.ledger.find({}).to_list()


async def test_a_transient_error_in_the_middle_of_a_callback_reruns_it_once(shim) -> None:
    """On the shim: the ledger insert fails after the balance moved, inside the callback."""
    server, open_store = shim
    store = await open_store()
    await store.grant_once("site_1", "42", "article", 10, "checkout:cs_1")
    server.fail_operation("insert_one", "ledger", transient_error("in the middle of a callback"))
    result = await store.deduct("site_1", "42", "article", 3, idempotency_key="k")
    assert result.ok and not result.replayed and result.entry.balance_after == 7
    assert server.transient_retries == 1
    assert (await store.get_user("site_1", "42")).balances.of("article") == 7
    assert len(await ledger_docs(store)) == 2
    assert (await store.reconcile()).ok


async def test_an_operation_timeout_mid_callback_raises_and_writes_nothing(shim) -> None:
    """On the shim: the ledger insert runs out of time after the balance moved."""
    server, open_store = shim
    store = await open_store()
    await store.grant_once("site_1", "42", "article", 10, "checkout:cs_1")
    server.fail_operation("insert_one", "ledger", operation_timeout())
    with pytest.raises(StoreUnavailableError) as raised:
        await store.deduct("site_1", "42", "article", 3, idempotency_key="k")
    assert isinstance(raised.value.__cause__, ExecutionTimeout)
    assert not raised.value.outcome_unknown  # nothing reached the commit
    assert (await store.get_user("site_1", "42")).balances.of("article") == 10
    assert len(await ledger_docs(store)) == 1


#: Each money primitive, on a store whose user holds 10 article credits from "checkout:cs_0".
PRIMITIVES: dict[str, Callable[[MongoStore], Any]] = {
    "grant": lambda store: store.grant_once("site_1", "42", "article", 5, "checkout:cs_1"),
    "deduct": lambda store: store.deduct(
        "site_1", "42", "article", 3, idempotency_key="k", notify=notify_plugin()
    ),
    "keyless deduct": lambda store: store.deduct("site_1", "42", "article", 3),
    "adjust": lambda store: store.adjust("site_1", "42", "article", -2, "adj:1", reason="fix"),
    "reverse": lambda store: store.reverse("checkout:cs_0", 4, reason="refund"),
}
#: The balance after each primitive, moved once.
AFTER = {"grant": 15, "deduct": 7, "keyless deduct": 7, "adjust": 8, "reverse": 6}


async def transaction_calls(primitive: str) -> list[tuple[str, str]]:
    """The distinct operations the primitive's transaction makes, in order (a dry run)."""
    server = ShimServer(retry_every_transaction=False)
    store = MongoStore(URL, database=DB, client=AsyncMongoClient(server))  # type: ignore[arg-type]
    await store.open()
    await store.grant_once("site_1", "42", "article", 10, "checkout:cs_0")
    server.transaction_calls.clear()
    await PRIMITIVES[primitive](store)
    await store.close()
    return list(dict.fromkeys(server.transaction_calls))


@pytest.mark.parametrize("primitive", list(PRIMITIVES))
async def test_a_fault_at_any_step_of_a_money_transaction_moves_the_money_once_or_not_at_all(
    shim, primitive: str
) -> None:
    """On the shim, for every operation the primitive's transaction makes (all of them,
    enumerated by a dry run): a transient error there reruns the callback and the money
    moves once; an operation timeout there fails the call and moves nothing."""
    server, open_store = shim
    calls = await transaction_calls(primitive)
    assert len(calls) >= 3
    for op, collection in calls:
        for fault, moved in ((transient_error("mid-callback"), True), (operation_timeout(), False)):
            server.mongo.drop_database(DB)
            store = await open_store()
            await store.grant_once("site_1", "42", "article", 10, "checkout:cs_0")
            server.fail_operation(op, collection, fault)
            if moved:
                await PRIMITIVES[primitive](store)
            else:
                with pytest.raises(StoreUnavailableError) as raised:
                    await PRIMITIVES[primitive](store)
                assert isinstance(raised.value.__cause__, ExecutionTimeout)
                assert not raised.value.outcome_unknown
            where = f"{primitive}: {fault} at {op} {collection}"
            user = await store.get_user("site_1", "42")
            assert user.balances.of("article") == (AFTER[primitive] if moved else 10), where
            assert len(await ledger_docs(store)) == (2 if moved else 1), where
            assert (await store.reconcile()).ok, where


@pytest.mark.parametrize(
    "error",
    [unknown_commit_error, lambda: operation_timeout(during_commit=True), operation_timeout],
    ids=["unknown-commit-result", "timeout-during-commit", "timeout"],
)
@pytest.mark.parametrize("key", ["k", None], ids=["keyed", "keyless"])
async def test_a_deduct_whose_commit_landed_unknown_answers_what_committed(
    shim, error: Callable[[], Any], key: str | None
) -> None:
    """On the shim: the commit lands, then the client hears an error with an unknown
    outcome; the answer is the committed deduction, made once (keyless too: the call's own
    source_ref is re-read)."""
    server, open_store = shim
    store = await open_store()
    await store.grant_once("site_1", "42", "article", 10, "checkout:cs_1")
    server.fail_commit(error(), landed=True)
    result = await store.deduct("site_1", "42", "article", 3, idempotency_key=key)
    assert result.ok and not result.replayed
    assert result.entry.balance_after == 7 and result.balances.of("article") == 7
    stored = await store.get_ledger_entry(result.entry.source_ref)
    assert stored.transaction_id == result.entry.transaction_id
    assert len(await ledger_docs(store)) == 2
    assert (await store.reconcile()).ok


async def test_a_grant_and_a_reversal_whose_commits_landed_unknown_answer_what_committed(
    shim,
) -> None:
    """On the shim: unknown commit results after the writes landed."""
    server, open_store = shim
    store = await open_store()
    server.fail_commit(unknown_commit_error(), landed=True)
    granted = await store.grant_once("site_1", "42", "article", 10, "checkout:cs_1")
    assert granted.applied and granted.balances.of("article") == 10
    server.fail_commit(operation_timeout(during_commit=True), landed=True)
    reversed_ = await store.reverse("checkout:cs_1", 4, reason="refund")
    assert reversed_.applied and reversed_.entry.delta == -4
    assert (await store.get_user("site_1", "42")).balances.of("article") == 6
    assert len(await ledger_docs(store)) == 2


async def test_an_unknown_commit_that_did_not_land_raises_and_a_keyed_retry_deducts_once(
    shim,
) -> None:
    """On the shim: the commit is lost; the outcome stays unknown to the caller, whose retry
    under the same key is safe."""
    server, open_store = shim
    store = await open_store()
    await store.grant_once("site_1", "42", "article", 10, "checkout:cs_1")
    server.fail_commit(unknown_commit_error(), landed=False)
    with pytest.raises(StoreUnavailableError) as raised:
        await store.deduct("site_1", "42", "article", 3, idempotency_key="k")
    assert raised.value.outcome_unknown
    assert isinstance(raised.value.__cause__, AutoReconnect)
    assert (await store.get_user("site_1", "42")).balances.of("article") == 10
    retried = await store.deduct("site_1", "42", "article", 3, idempotency_key="k")
    assert retried.ok and not retried.replayed and retried.balances.of("article") == 7


async def test_an_unknown_commit_found_under_another_callers_entry_replays_it(shim) -> None:
    """On the shim: this call's commit is lost, and while it waits a retry of the same key
    (another worker) commits; the answer is that deduction, replayed, never a second."""
    server, open_store = shim
    store, other = await open_store(), await open_store()
    await store.grant_once("site_1", "42", "article", 10, "checkout:cs_1")
    retries: list[Any] = []

    async def retry() -> None:
        retries.append(await other.deduct("site_1", "42", "article", 3, idempotency_key="k"))

    server.fail_commit(unknown_commit_error(), landed=False, meanwhile=retry)
    answer = await store.deduct("site_1", "42", "article", 3, idempotency_key="k")
    assert answer.ok and answer.replayed
    assert answer.entry.transaction_id == retries[0].entry.transaction_id
    assert (await store.get_user("site_1", "42")).balances.of("article") == 7


async def deduct_overtaken(
    shim: Any, granted: int, mine: tuple[int, str], theirs: tuple[int, str]
) -> tuple[MongoStore, Any, Any]:
    """On the shim: grant `granted` credits, then deduct `mine` (amount, idempotency key)
    while another store's deduction `theirs` commits between its read and its balance
    update. Answers the store and both deductions' answers (mine, theirs)."""
    server, open_store = shim
    store, other = await open_store(), await open_store()
    await store.grant_once("site_1", "42", "article", granted, "checkout:cs_1")
    overtaking: list[Any] = []

    async def overtake() -> None:
        amount, key = theirs
        overtaking.append(
            await other.deduct("site_1", "42", "article", amount, idempotency_key=key)
        )

    server.interleave("find_one_and_update", "balances", overtake)
    amount, key = mine
    first = await store.deduct("site_1", "42", "article", amount, idempotency_key=key)
    return store, first, overtaking[0]


async def test_two_transactions_interleaving_on_one_balance_both_land_once(shim) -> None:
    """On the shim: a second deduction runs and commits between the first's read and its
    balance update; the first then conflicts, runs again, and both count."""
    server, _ = shim
    store, first, second = await deduct_overtaken(shim, 10, (3, "a"), (4, "b"))
    assert second.entry.balance_after == 6
    assert first.ok and first.entry.balance_after == 3
    assert server.transient_retries == 1  # the write conflict
    assert (await store.reconcile()).ok


async def test_a_deduct_overtaken_by_its_own_retry_replays_it_instead_of_refusing(shim) -> None:
    """On the shim: the balance covers one deduction; a retry of the same key commits
    between the first's read and write. The first must answer the retry's deduction, not
    402 (the key is looked up inside the transaction, before the balance check)."""
    store, first, retry = await deduct_overtaken(shim, 5, (5, "k"), (5, "k"))
    assert retry.ok and not retry.replayed
    assert first.ok and first.replayed
    assert first.entry.transaction_id == retry.entry.transaction_id
    assert (await store.get_user("site_1", "42")).balances.of("article") == 0


# ---------------------------------------------------------------------------- sessions and TTL
def stripe_event(event_id: str, event_type: str, session_id: str, paid: bool) -> dict[str, Any]:
    """A Checkout Session event as Stripe sends it, for a konbini payment."""
    session = {
        "id": session_id,
        "object": "checkout.session",
        "payment_intent": "pi_konbini",
        "payment_status": "paid" if paid else "unpaid",
    }
    return {"id": event_id, "type": event_type, "data": {"object": session}}


async def test_a_session_completed_unpaid_outlives_a_ttl_pass_and_its_late_payment_is_credited_once(
    shim,
) -> None:
    """On the shim, with its TTL pass: a konbini Checkout completed unpaid stays pending
    until paid (up to 60 days), past expires_at + 7 days; a TTL pass then must leave it, so
    that the payment's event credits it, once."""
    server, open_store = shim
    store = await open_store()
    services: Any = SimpleNamespace(store=store, dispatcher=SimpleNamespace(wake=lambda: None))
    site = await store.create_site(new_site())
    session = new_session(site.site_id)
    await store.create_checkout_session(session)
    sid = session.session_id
    completed = stripe_event("evt_1", "checkout.session.completed", sid, paid=False)
    assert await stripe_events.handle_event(services, completed) == "awaiting_payment"
    assert server.ttl_pass(datetime.now(UTC) + timedelta(days=60)) == 0
    paid = stripe_event("evt_2", "checkout.session.async_payment_succeeded", sid, paid=True)
    assert await stripe_events.handle_event(services, paid) == "granted"
    assert await stripe_events.handle_event(services, paid) == "duplicate"
    user = await store.get_user(site.site_id, session.user_id)
    assert user.balances.of("article") == session.credits
    assert len(await ledger_docs(store)) == 1
    assert (await store.get_checkout_session(sid)).status == "completed"


async def test_a_ttl_pass_deletes_an_expired_session_a_week_after_it_expired(shim) -> None:
    """On the shim, with its TTL pass: only sessions that can no longer be paid go."""
    server, open_store = shim
    store = await open_store()
    site = await store.create_site(new_site())
    expired, pending, completed = (new_session(site.site_id) for _ in range(3))
    for session in (expired, pending, completed):
        await store.create_checkout_session(session)
    await store.transition_checkout_session(expired.session_id, "pending", "expired", {})
    await store.transition_checkout_session(completed.session_id, "pending", "completed", {})
    expires_at = datetime.fromisoformat(expired.expires_at.replace("Z", "+00:00"))
    assert server.ttl_pass(expires_at + timedelta(days=6)) == 0
    assert server.ttl_pass(expires_at + timedelta(days=8)) == 1
    assert await store.get_checkout_session(expired.session_id) is None
    assert server.ttl_pass(expires_at + timedelta(days=400)) == 0
    for kept in (pending, completed):
        assert await store.get_checkout_session(kept.session_id) is not None


async def test_an_earlier_versions_ttl_on_pending_sessions_is_replaced_on_open(shim) -> None:
    """On the shim: the index that deleted payable sessions is dropped by open()."""
    server, open_store = shim
    server.mongo[DB][CHECKOUT_SESSIONS].create_indexes(
        [
            IndexModel(
                [("expires_at", 1)],
                name="expires_at_pending_ttl",
                expireAfterSeconds=7 * 24 * 3600,
                partialFilterExpression={"status": "pending"},
            )
        ]
    )
    store = await open_store()
    names = {i["name"] for i in await (await store.db[CHECKOUT_SESSIONS].list_indexes()).to_list()}
    assert "expires_at_pending_ttl" not in names and "expires_at_expired_ttl" in names
    session = new_session("site_1")
    await store.create_checkout_session(session)
    assert server.ttl_pass(datetime.now(UTC) + timedelta(days=70)) == 0


# ---------------------------------------------------------------------------- legacy entries
def legacy_pending(source_ref: str) -> dict[str, Any]:
    """A ledger entry as the deleted standalone path left it when it stopped half-way."""
    return {
        "transaction_id": "txn_legacy",
        "site_id": "site_1",
        "user_id": "42",
        "credit_type": "article",
        "delta": 10,
        "balance_after": 0,
        "kind": "purchase",
        "source_ref": source_ref,
        "parent_ref": None,
        "reason": None,
        "meta": {},
        "created_at": "2026-01-01T00:00:00.000000Z",
        "state": "pending",
        "reversed": 0,
    }


async def test_open_refuses_a_ledger_with_pending_entries_and_names_them(make_store) -> None:
    server = ShimServer()
    server.mongo[DB].ledger.insert_one(legacy_pending("checkout:cs_legacy"))
    with pytest.raises(MongoSetupError, match="checkout:cs_legacy"):
        await make_store(server).open()


async def test_a_pending_entry_is_never_replayed_as_success(make_store) -> None:
    """On the shim: a pending entry written after open() (an older worker still running)."""
    store = make_store(ShimServer())
    await store.open()
    await store.db.ledger.insert_one(legacy_pending("checkout:cs_legacy"))
    with pytest.raises(StoreError, match="pending"):
        await store.grant_once("site_1", "42", "article", 10, "checkout:cs_legacy")
    with pytest.raises(StoreError, match="pending"):
        await store.get_ledger_entry("checkout:cs_legacy")
    with pytest.raises(StoreError, match="pending"):
        await store.reverse("checkout:cs_legacy", 10, reason="refund")


# ---------------------------------------------------------------------------- reads, validators
async def test_reads_outside_transactions_are_majority_reads(make_store) -> None:
    """On the shim, which records the options the adapter asks for."""
    store = make_store(ShimServer())
    await store.open()
    assert store._client.database_options[DB]["read_concern"].level == "majority"


@pytest.mark.parametrize("bad", [Decimal128("5"), 5.0, 5.5, "5"], ids=repr)
async def test_a_credit_amount_that_is_not_a_whole_number_is_refused_by_the_server(
    make_store, bad: Any
) -> None:
    """On the shim, which applies $jsonSchema validators as MongoDB does (error 121)."""
    store = make_store(ShimServer())
    await store.open()
    await store.grant_once("site_1", "42", "article", 10, "checkout:cs_1")
    key = {"site_id": "site_1", "user_id": "42"}
    with pytest.raises(WriteError) as raised:
        await store.db.balances.update_one(key, {"$set": {"credits.article": bad}})
    assert raised.value.code == 121
    with pytest.raises(WriteError):
        await store.db.ledger.update_one({"source_ref": "checkout:cs_1"}, {"$set": {"delta": bad}})
    with pytest.raises(WriteError):
        await store.db.ledger.insert_one({**legacy_pending("x"), "state": "applied", "delta": bad})
    result = await store.deduct("site_1", "42", "article", 3)
    assert result.ok and result.balances.of("article") == 7


async def test_open_puts_the_money_validators_on_existing_collections(make_store) -> None:
    server = ShimServer()
    server.mongo[DB].create_collection("balances")
    server.mongo[DB].create_collection("ledger")
    await make_store(server).open()
    for name in ("balances", "ledger"):
        assert server.validators[(DB, name)] == VALIDATORS[name]


# ---------------------------------------------------------------------------- outbox
async def test_an_attempt_is_logged_only_with_its_deliverys_new_state(
    make_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the shim, whose outbox update fails as a primary stepping down would make it:
    the attempt written just before it is rolled back with it."""
    store = make_store(ShimServer())
    await store.open()
    site = await store.create_site(new_site())
    await store.enqueue_webhook(draft(site.site_id))
    [claimed] = await store.claim_due_webhooks(
        "w", now=time.time(), lease_seconds=30, limit=1, include_scheduled=True
    )

    async def steps_down(self: ShimCollection, *args: Any, **kwargs: Any) -> None:
        raise OperationFailure("not primary", 10107, {"code": 10107})

    monkeypatch.setattr(ShimCollection, "bulk_write", steps_down)
    attempt = WebhookAttempt(1, time.time(), 200, None, 3.0)
    with pytest.raises(OperationFailure):
        await store.record_webhook_attempts(
            "w", [AttemptOutcome(claimed.delivery_id, attempt, True, None)]
        )
    delivery = await store.get_webhook_delivery(claimed.delivery_id)
    assert delivery is not None and delivery.attempt_log == ()
    assert await store.db.webhook_attempts.count_documents({}) == 0


# ---------------------------------------------------------------------------- figures
async def test_stats_asks_for_reversed_grants_in_bounded_batches(
    make_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the shim, its finds spied on: however many purchases were refunded, no `$in`
    list is longer than IN_BATCH (one list of all of them would pass 16 MB one day)."""
    store = make_store(ShimServer(retry_every_transaction=False))
    await store.open()
    site = await store.create_site(new_site())
    for n in range(5):
        ref = f"checkout:cs_{n}"
        meta = {"amount": 1000, "currency": "jpy"}
        await store.grant_once(site.site_id, "42", "article", 10, ref, meta=meta)
        await store.reverse(ref, 10, reason="refund")
    monkeypatch.setattr(mongo_figures, "IN_BATCH", 2)
    in_lists: list[list[str]] = []
    find = ShimCollection.find

    def spied(self: ShimCollection, query: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(query, dict) and "$in" in (query.get("source_ref") or {}):
            in_lists.append(query["source_ref"]["$in"])
        return find(self, query, *args, **kwargs)

    monkeypatch.setattr(ShimCollection, "find", spied)
    reversed_grants = await store._reversed_grants()
    assert len(reversed_grants) == 5 and {r.reversed for r in reversed_grants} == {10}
    assert in_lists and max(len(refs) for refs in in_lists) <= 2
