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

from pymongo import IndexModel, ReadPreference  # noqa: E402
from pymongo.errors import OperationFailure, PyMongoError, WriteError  # noqa: E402

from service.store import mongo_money  # noqa: E402
from service.store.mongo import MongoStore, _build_index  # noqa: E402
from service.store.mongo_documents import session_doc  # noqa: E402
from service.store.mongo_schema import (  # noqa: E402
    CHECKOUT_SESSIONS,
    IndexChange,
    IndexSpec,
    MongoSetupError,
)

from .builders import new_session, new_site  # noqa: E402
from .mongomock_async import (  # noqa: E402
    STANDALONE_HELLO,
    AsyncMongoClient,
    MissingSessionError,
    ShimServer,
)

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


async def test_a_urls_read_preference_and_timeouts_are_overridden() -> None:
    # Built, never connected: pymongo's async client connects on first use.
    store = MongoStore(
        "mongodb://127.0.0.1:9/shop?replicaSet=rs0&readPreference=secondary"
        "&serverSelectionTimeoutMS=30000",
        server_selection_timeout_ms=1500,
        timeout_ms=2500,
    )
    client = store.connect()
    try:
        assert store.db.name == "shop"
        assert store.db.read_preference == ReadPreference.PRIMARY
        assert client.options.server_selection_timeout == 1.5
        assert client.options.timeout == 2.5
    finally:
        await client.close()


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


async def test_a_replacement_index_is_built_before_the_old_one_is_dropped() -> None:
    calls: list[str] = []

    class Collection:  # a server that holds both at once (different names and keys)
        full_name = "rakubun.ledger"

        async def create_indexes(self, models: list[IndexModel]) -> None:
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
