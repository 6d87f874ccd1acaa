"""The MongoDB schema and document mapping, checked without a server."""

from __future__ import annotations

import inspect
import json
from datetime import datetime
from typing import Any

import bson
import pytest
from bson.codec_options import CodecOptions
from pymongo import IndexModel

from service.domain.models import LedgerEntry, WebhookAttempt
from service.store import Store
from service.store.base import new_delivery
from service.store.mongo import MongoStore, database_from_url
from service.store.mongo.documents import (
    OLDEST_FIRST,
    delivery_doc,
    delivery_from,
    entry_doc,
    entry_from,
    new_balance_fields,
    session_doc,
    session_from,
)
from service.store.mongo.schema import (
    CHECKOUT_SESSION_VALIDATOR,
    CHECKOUT_SESSIONS,
    EXPIRED_SESSION_GRACE_SECONDS,
    INDEXES,
    REPLICA_SET_NEEDED,
    IndexChange,
    IndexSpec,
    MongoSetupError,
    index_changes,
    server_refusal,
)

from .builders import draft, new_session

BSON_TYPES: dict[str, Any] = {
    "string": str,
    "date": datetime,
    "object": dict,
    "int": int,
    "null": type(None),
    "number": (int, float),
    "objectId": bson.ObjectId,
    "bool": bool,
}


def schema_errors(doc: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """The parts of `$jsonSchema` the validator uses: required, bsonType, enum."""
    errors = [f"missing {name}" for name in schema.get("required", []) if name not in doc]
    for name, rule in schema.get("properties", {}).items():
        if name not in doc:
            continue
        value = doc[name]
        kinds = rule["bsonType"] if isinstance(rule["bsonType"], list) else [rule["bsonType"]]
        if isinstance(value, bool) or not isinstance(value, tuple(BSON_TYPES[k] for k in kinds)):
            errors.append(f"{name}: {value!r} is not {kinds}")
        if "enum" in rule and value not in rule["enum"]:
            errors.append(f"{name}: {value!r} not in {rule['enum']}")
    return errors


def index(collection: str, name: str) -> IndexSpec:
    return next(spec for spec in INDEXES[collection] if spec.name == name)


# ---------------------------------------------------------------------------- indexes
def test_only_expired_checkout_sessions_expire_through_a_partial_ttl_index() -> None:
    # A pending session may be a Checkout completed unpaid (konbini), still to be paid.
    ttl = index(CHECKOUT_SESSIONS, "expires_at_expired_ttl")
    assert ttl.keys == (("expires_at", 1),)
    assert ttl.options["partialFilterExpression"] == {"status": "expired"}
    assert ttl.options["expireAfterSeconds"] == EXPIRED_SESSION_GRACE_SECONDS
    assert EXPIRED_SESSION_GRACE_SECONDS > 3 * 24 * 3600  # Stripe retries webhooks for 3 days


def test_no_ttl_index_touches_paid_sessions_or_the_ledger() -> None:
    ttls = {
        (collection, spec.name)
        for collection, specs in INDEXES.items()
        for spec in specs
        if "expireAfterSeconds" in spec.options
    }
    assert ttls == {
        (CHECKOUT_SESSIONS, "expires_at_expired_ttl"),
        ("rate_limits", "expires_at_ttl"),
    }


def test_checkout_sessions_keep_the_seeds_indexes_with_session_id_unique() -> None:
    assert index(CHECKOUT_SESSIONS, "site_id_1_user_id_1").keys == (("site_id", 1), ("user_id", 1))
    session_id = index(CHECKOUT_SESSIONS, "session_id_1")
    assert session_id.keys == (("session_id", 1),)
    assert session_id.options == {"unique": True}


@pytest.mark.parametrize(
    ("collection", "name", "keys"),
    [
        ("ledger", "source_ref_unique", (("source_ref", 1),)),
        ("sites", "instance_id_unique", (("instance_id", 1),)),
        ("packages", "package_id_unique", (("package_id", 1),)),
        ("stripe_events", "event_id_unique", (("event_id", 1),)),
        ("webhook_outbox", "delivery_id_unique", (("delivery_id", 1),)),
        ("balances", "site_user_unique", (("site_id", 1), ("user_id", 1))),
    ],
)
def test_exactly_once_rests_on_unique_indexes(
    collection: str, name: str, keys: tuple[tuple[str, int], ...]
) -> None:
    spec = index(collection, name)
    assert (spec.keys, spec.options.get("unique")) == (keys, True)


def test_ledger_is_indexed_for_reversals_and_per_user_listing() -> None:
    assert index("ledger", "parent_ref").keys == (("parent_ref", 1),)
    assert index("ledger", "site_user_newest").keys == (
        ("site_id", 1),
        ("user_id", 1),
        ("created_at", -1),
        ("_id", -1),
    )


def test_newest_first_listings_are_indexed_by_creation_time_then_id() -> None:
    assert index("webhook_outbox", "site_newest").keys == (
        ("site_id", 1),
        ("created_at", -1),
        ("_id", -1),
    )


def serves(spec: IndexSpec, equal: tuple[str, ...], order: list[tuple[str, int]]) -> bool:
    """Whether an index answers `equal` fields matched exactly, in `order`, without a sort:
    its keys are those fields (any order), then `order` (or all of it reversed)."""
    head, tail = spec.keys[: len(equal)], list(spec.keys[len(equal) :])
    reverse = [(k, -d) for k, d in order]
    return {k for k, _ in head} == set(equal) and tail[: len(order)] in (order, reverse)


def test_the_outbox_claim_reads_its_order_from_an_index() -> None:
    # claim_due_webhooks: pending ones, oldest first (outbox_backlog's oldest pending too).
    assert any(serves(spec, ("status",), OLDEST_FIRST) for spec in INDEXES["webhook_outbox"])


def test_every_index_spec_is_a_valid_pymongo_index_model() -> None:
    for specs in INDEXES.values():
        for spec in specs:
            document = IndexModel(list(spec.keys), **spec.kwargs()).document
            assert document["name"] == spec.name


# ---------------------------------------------------------------------------- index changes
SEED_INDEXES = [
    {"v": 2, "key": {"_id": 1}, "name": "_id_"},
    {"v": 2, "key": {"expires_at": 1}, "name": "expires_at_1", "expireAfterSeconds": 0},
    {"v": 2, "key": {"site_id": 1, "user_id": 1}, "name": "site_id_1_user_id_1"},
    {"v": 2, "key": {"session_id": 1}, "name": "session_id_1"},
]


def ours(collection: str) -> list[dict[str, Any]]:
    """Our indexes of `collection` as listIndexes answers them."""
    return [
        {"v": 2, "key": dict(spec.keys), "name": spec.name, **spec.options}
        for spec in INDEXES[collection]
    ]


def test_the_seeds_ttl_and_non_unique_session_index_are_replaced() -> None:
    changes = index_changes(CHECKOUT_SESSIONS, SEED_INDEXES, INDEXES[CHECKOUT_SESSIONS])
    assert {c.spec.name: c.replaces for c in changes} == {
        "session_id_1": ("session_id_1",),
        "payment_intent_id": (),
        "expires_at_expired_ttl": ("expires_at_1",),
    }


def test_the_ttl_of_pending_sessions_is_replaced_by_the_one_of_expired_sessions() -> None:
    earlier = {
        "key": {"expires_at": 1},
        "name": "expires_at_pending_ttl",
        "expireAfterSeconds": EXPIRED_SESSION_GRACE_SECONDS,
        "partialFilterExpression": {"status": "pending"},
    }
    changes = index_changes(CHECKOUT_SESSIONS, [earlier], INDEXES[CHECKOUT_SESSIONS])
    assert {c.spec.name: c.replaces for c in changes}["expires_at_expired_ttl"] == (
        "expires_at_pending_ttl",
    )


def test_our_own_indexes_need_no_change() -> None:
    existing = ours(CHECKOUT_SESSIONS)
    existing[0]["key"] = {k: float(v) for k, v in existing[0]["key"].items()}  # servers say 1.0
    assert (
        index_changes(CHECKOUT_SESSIONS, [SEED_INDEXES[0], *existing], INDEXES[CHECKOUT_SESSIONS])
        == []
    )


def test_an_equal_index_under_another_name_is_kept() -> None:
    existing = [{"key": {"source_ref": 1}, "name": "source_ref_1", "unique": True}]
    assert "source_ref_unique" not in {
        c.spec.name for c in index_changes("ledger", existing, INDEXES["ledger"])
    }


def test_a_ttl_with_another_grace_is_replaced() -> None:
    old = {
        "key": {"expires_at": 1},
        "name": "expires_at_expired_ttl",
        "expireAfterSeconds": 0,
        "partialFilterExpression": {"status": "expired"},
    }
    wanted = index(CHECKOUT_SESSIONS, "expires_at_expired_ttl")
    assert index_changes(CHECKOUT_SESSIONS, [old], [wanted]) == [
        IndexChange(wanted, ("expires_at_expired_ttl",))
    ]


def test_an_index_changing_its_keys_replaces_the_old_one_of_its_name() -> None:
    old = {"key": {"site_id": 1, "user_id": 1, "_id": -1}, "name": "site_user_newest"}
    wanted = index("ledger", "site_user_newest")
    assert index_changes("ledger", [old], [wanted]) == [IndexChange(wanted, ("site_user_newest",))]


@pytest.mark.parametrize(
    "existing",
    [
        {
            "key": {"source_ref": 1},
            "name": "source_ref_unique",
            "unique": True,
            "partialFilterExpression": {"kind": "purchase"},
        },
        {"key": {"source_ref": 1, "site_id": 1}, "name": "source_ref_unique", "unique": True},
        {"key": {"source_ref": 1}, "name": "source_ref_1", "unique": True, "sparse": True},
    ],
)
def test_a_unique_index_that_differs_is_never_dropped(existing: dict[str, Any]) -> None:
    with pytest.raises(MongoSetupError, match="never dropped automatically") as raised:
        index_changes("ledger", [existing], INDEXES["ledger"])
    assert f"dropIndex('{existing['name']}')" in str(raised.value)


@pytest.mark.parametrize("kind", ["text", "2dsphere", "hashed", "2d"])
def test_indexes_of_unknown_kinds_are_left_alone(kind: str) -> None:
    existing = [
        {"key": {"source_ref": kind}, "name": "source_ref_unique"},
        {"key": {"transaction_id": kind}, "name": f"transaction_id_{kind}"},
    ]
    changes = index_changes("ledger", existing, INDEXES["ledger"])
    assert all(c.replaces == () for c in changes)
    assert {c.spec.name for c in changes} == {spec.name for spec in INDEXES["ledger"]}


# ---------------------------------------------------------------------------- validator
def test_validator_is_the_seeds_with_our_string_ids() -> None:
    schema = CHECKOUT_SESSION_VALIDATOR["$jsonSchema"]
    assert schema["required"] == ["site_id", "user_id", "session_id", "package_id", "created_at"]
    properties = schema["properties"]
    assert properties["site_id"] == {"bsonType": "string"}
    assert properties["user_id"] == {"bsonType": "string"}
    assert properties["status"]["enum"] == ["pending", "completed", "expired", "failed"]
    assert properties["credit_type"]["enum"] == ["article", "image", "rewrite"]
    assert properties["created_at"] == {"bsonType": "date"}


def test_a_stored_session_satisfies_the_validator() -> None:
    schema = CHECKOUT_SESSION_VALIDATOR["$jsonSchema"]
    assert schema_errors(session_doc(new_session("site_1")), schema) == []
    assert (
        schema_errors(session_doc(new_session("site_1", user_email=None, expires_at=None)), schema)
        == []
    )


def test_the_validator_rejects_the_seeds_id_types_and_unknown_statuses() -> None:
    schema = CHECKOUT_SESSION_VALIDATOR["$jsonSchema"]
    doc = session_doc(new_session("site_1"))
    assert schema_errors({**doc, "user_id": 42}, schema)
    assert schema_errors({**doc, "site_id": bson.ObjectId()}, schema)
    assert schema_errors({**doc, "status": "paid"}, schema)
    assert schema_errors({**doc, "created_at": "2025-11-06T00:00:00Z"}, schema)
    assert schema_errors({k: v for k, v in doc.items() if k != "session_id"}, schema)


# ---------------------------------------------------------------------------- documents
def bson_round_trip(doc: dict[str, Any]) -> dict[str, Any]:
    return bson.decode(bson.encode(doc), codec_options=CodecOptions(tz_aware=True))


def test_session_dates_are_bson_dates_and_read_back_to_the_millisecond() -> None:
    session = new_session(
        "site_1",
        created_at="2025-11-06T00:15:45.948491Z",
        completed_at="2025-11-06T00:20:00.000000Z",
    )
    doc = session_doc(session)
    assert all(isinstance(doc[k], datetime) for k in ("created_at", "expires_at", "completed_at"))
    back = session_from(bson_round_trip(doc))
    assert back.created_at == "2025-11-06T00:15:45.948000Z"
    assert back.completed_at == session.completed_at
    assert back.expires_at == session.expires_at  # the builder keeps milliseconds


def test_ledger_entries_round_trip_and_start_unreversed() -> None:
    entry = LedgerEntry(
        "txn_1",
        "site_1",
        "42",
        "image",
        20,
        20,
        "purchase",
        "checkout:cs_1",
        None,
        "checkout",
        {"session_id": "cs_1"},
        "2025-11-06T00:00:00.000001Z",
    )
    doc = entry_doc(entry, state="pending")
    assert (doc["state"], doc["reversed"]) == ("pending", 0)
    assert entry_from(bson_round_trip(doc)) == entry


def test_deliveries_round_trip_with_their_attempt_log() -> None:
    delivery = new_delivery(draft("site_1"))
    doc = delivery_doc(delivery)
    assert (doc["lease_owner"], doc["lease_until"]) == (None, None)
    attempts = [
        {
            "delivery_id": delivery.delivery_id,
            "attempt": n,
            "at": 10.0 + n,
            "status_code": 500,
            "error": "boom",
            "duration_ms": 1.5,
        }
        for n in (2, 1)
    ]
    back = delivery_from(bson_round_trip(doc), attempts)
    assert back.delivery_id == delivery.delivery_id
    assert back.attempt_log == (
        WebhookAttempt(1, 11.0, 500, "boom", 1.5),
        WebhookAttempt(2, 12.0, 500, "boom", 1.5),
    )


def test_a_new_balance_document_zeroes_every_other_credit_type() -> None:
    assert new_balance_fields("image") == {"credits.article": 0, "credits.rewrite": 0}


# ---------------------------------------------------------------------------- the server
RS = {
    "isWritablePrimary": True,
    "setName": "rs0",
    "maxWireVersion": 21,
    "logicalSessionTimeoutMinutes": 30,
}


@pytest.mark.parametrize(
    "hello",
    [
        RS,
        {**RS, "maxWireVersion": 13},  # MongoDB 5.0
        {
            "isWritablePrimary": True,
            "msg": "isdbgrid",
            "maxWireVersion": 21,
            "logicalSessionTimeoutMinutes": 30,
        },  # a mongos
    ],
)
def test_replica_sets_and_mongos_of_5_0_or_newer_are_accepted(hello: dict[str, Any]) -> None:
    assert server_refusal(hello) is None


def test_a_standalone_server_is_refused_with_how_to_make_a_replica_set() -> None:
    standalone = {k: v for k, v in RS.items() if k != "setName"}
    assert server_refusal(standalone) == REPLICA_SET_NEEDED
    for step in ("--replSet rs0", "rs.initiate()", "?replicaSet=rs0", "one-node replica set"):
        assert step in REPLICA_SET_NEEDED


@pytest.mark.parametrize(
    ("hello", "says"),
    [
        ({**RS, "maxWireVersion": 12}, "MongoDB 5.0 or newer"),  # 4.4
        ({**RS, "maxWireVersion": 9}, "MongoDB 5.0 or newer"),  # 4.4
        ({k: v for k, v in RS.items() if k != "logicalSessionTimeoutMinutes"}, "sessions"),
    ],
)
def test_servers_without_snapshot_transactions_are_refused(
    hello: dict[str, Any], says: str
) -> None:
    refusal = server_refusal(hello)
    assert refusal is not None and says in refusal


@pytest.mark.parametrize(
    ("url", "database"),
    [
        ("mongodb://127.0.0.1:27017", None),
        ("mongodb://127.0.0.1:27017/", None),
        ("mongodb://127.0.0.1:27017/?replicaSet=rs0", None),
        ("mongodb://user:p%40ss@h1:27017,h2:27017/shop?replicaSet=rs0", "shop"),
        (
            "mongodb+srv://user:pw@cluster0.example.net/rakubun_prod?retryWrites=true",
            "rakubun_prod",
        ),
        ("mongodb://127.0.0.1/my%20db", "my db"),
    ],
)
def test_the_database_comes_from_the_url_path(url: str, database: str | None) -> None:
    assert database_from_url(url) == database


def test_mongodb_database_wins_over_the_url_and_rakubun_is_the_last_resort() -> None:
    url = "mongodb://127.0.0.1:27017/shop?replicaSet=rs0"
    assert MongoStore(url).database == "shop"
    assert MongoStore(url, database="override").database == "override"
    assert MongoStore("mongodb://127.0.0.1:27017/?replicaSet=rs0").database == "rakubun"


# ---------------------------------------------------------------------------- the adapter
def test_mongo_store_implements_every_store_method_with_its_signature() -> None:
    store = MongoStore("mongodb://localhost:27017", database="rakubun_test")
    assert isinstance(store, Store)
    for name, method in inspect.getmembers(Store, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = getattr(MongoStore, name)
        assert inspect.iscoroutinefunction(ours), name
        assert inspect.signature(ours) == inspect.signature(method), name


async def test_opening_a_seed_database_replaces_its_dangerous_indexes() -> None:
    pytest.importorskip("mongomock", reason="mongomock not installed")
    from .mongomock_async import AsyncMongoClient, ShimServer  # not MongoDB: shapes only

    server = ShimServer()
    seed = server.mongo["rakubun"][CHECKOUT_SESSIONS]
    seed.create_indexes(
        [
            IndexModel([("expires_at", 1)], expireAfterSeconds=0),
            IndexModel([("site_id", 1), ("user_id", 1)]),
            IndexModel([("session_id", 1)]),
        ]
    )
    client: Any = AsyncMongoClient(server)
    store = MongoStore("mongodb://seed.invalid/?replicaSet=rs0", client=client)
    await store.open()
    indexes = {
        i["name"]: i for i in await (await store.db[CHECKOUT_SESSIONS].list_indexes()).to_list()
    }
    assert "expires_at_1" not in indexes
    ttl = indexes["expires_at_expired_ttl"]
    assert ttl["expireAfterSeconds"] == EXPIRED_SESSION_GRACE_SECONDS
    assert ttl["partialFilterExpression"] == {"status": "expired"}
    assert indexes["session_id_1"]["unique"] is True
    await store.close()


@pytest.mark.mongo
async def test_on_a_real_server_the_outbox_claim_sorts_nothing_in_memory(mongodb_url: str) -> None:
    """A real MongoDB (MONGODB_URL or Docker; skipped here without one): the claim's query,
    over a backlog, is planned without a blocking SORT stage."""
    store = MongoStore(mongodb_url, database=f"rakubun_test_{bson.ObjectId()}")
    await store.open()
    try:
        for _ in range(3):
            await store.enqueue_webhook(draft("site_1"))
        query = {"status": "pending", "$or": [{"lease_until": None}, {"lease_until": {"$lt": 0}}]}
        plan = await store.db.webhook_outbox.find(query).sort(OLDEST_FIRST).limit(1).explain()
        assert '"SORT"' not in json.dumps(plan["queryPlanner"]["winningPlan"], default=str)
    finally:
        await store._client.drop_database(store.database)
        await store.close()
