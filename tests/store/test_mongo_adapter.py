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
from typing import Any

import pytest

pytest.importorskip("mongomock", reason="mongomock not installed")

import pymongo  # noqa: E402
from pymongo import IndexModel, ReadPreference  # noqa: E402
from pymongo.errors import (  # noqa: E402
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WriteError,
)

from service.domain.models import AttemptOutcome, WebhookAttempt  # noqa: E402
from service.store import mongo, mongo_money  # noqa: E402
from service.store.mongo import MongoStore, _build_index, _secretless  # noqa: E402
from service.store.mongo_documents import session_doc  # noqa: E402
from service.store.mongo_schema import (  # noqa: E402
    CHECKOUT_SESSIONS,
    IndexChange,
    IndexSpec,
    MongoSetupError,
)

from .builders import draft, new_session, new_site  # noqa: E402
from .mongomock_async import (  # noqa: E402
    STANDALONE_HELLO,
    AsyncMongoClient,
    MissingSessionError,
    ShimServer,
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
    cleaned = _secretless(said, url)
    assert "s3cret" not in cleaned and cleaned.count("***") == 3


def test_a_url_without_a_password_leaves_the_message_alone() -> None:
    said = "127.0.0.1:9: [Errno 111] Connection refused"
    assert _secretless(said, "mongodb://127.0.0.1:9/?replicaSet=rs0") == said
    assert _secretless(said, "mongodb://app@127.0.0.1:9/") == said


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
            site_id="site_1",
            user_id="42",
            credit_type="article",
            delta=5,
            source_ref="x",
            kind="purchase",
            floor=None,
        )


async def test_every_transaction_retried_from_a_transient_error_still_moves_money_once(
    make_store,
) -> None:
    server = ShimServer(retry_every_transaction=True)
    store = make_store(server)
    await store.open()
    site = await store.create_site(new_site())
    await store.grant_once(site.site_id, "42", "article", 10, "checkout:cs_1")
    result = await store.deduct(site.site_id, "42", "article", 3, idempotency_key="k")
    await store.reverse("checkout:cs_1", 2, reason="refund")
    assert (server.commits, server.transient_retries) == (3, 3)
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


async def test_reconcile_reads_one_snapshot_with_its_session(make_store) -> None:
    store = make_store(ShimServer())
    await store.open()
    site = await store.create_site(new_site())
    await store.grant_once(site.site_id, "42", "article", 10, "checkout:cs_1")
    client = store._client
    async with client.start_session(snapshot=True) as session:
        with pytest.raises(MissingSessionError):  # inside a snapshot, a call needs it too
            await store.db.ledger.count_documents({})
        report = await store._reconcile(session)
    assert report.ok


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
    monkeypatch.setattr(mongo, "IN_BATCH", 2, raising=False)
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
