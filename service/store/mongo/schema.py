"""What a MongoDB server and database of ours must be: the server we accept, collections,
indexes and validators.

Plain data and pure functions, so they are tested without a server
(`tests/store/test_mongo_schema.py`); `service.store.mongo.store` applies them on `open()`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...domain.models import CREDIT_TYPES
from ..base import StoreError

CHECKOUT_SESSIONS = "stripe_checkout_sessions"

#: An expired session outlives its `expires_at` by this long before the TTL monitor deletes
#: it: Stripe retries a webhook for up to 3 days, and a late event or status read still finds
#: it. Only expired sessions are deleted: a pending one may be a Checkout completed with a
#: delayed method (konbini: up to 60 days), still to be paid.
EXPIRED_SESSION_GRACE_SECONDS = 7 * 24 * 3600

#: Rate-limit windows are minutes; a counter document is worthless an hour later.
RATE_LIMIT_TTL_SECONDS = 3600


@dataclass(frozen=True)
class IndexSpec:
    """One index, as data. `options` are `createIndexes` options (unique, partial filter...)."""

    keys: tuple[tuple[str, int], ...]
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `pymongo.IndexModel(keys, **kwargs)`."""
        return {"name": self.name, **self.options}


def _index(*keys: tuple[str, int], name: str, **options: Any) -> IndexSpec:
    return IndexSpec(tuple(keys), name, options)


UP, DOWN = 1, -1


def _ttl(field: str, name: str, seconds: int, status: str | None = None) -> IndexSpec:
    """A TTL index: a document goes `seconds` after the date in `field` (only documents of
    `status`, when given)."""
    partial = {"partialFilterExpression": {"status": status}} if status else {}
    return _index((field, UP), name=name, expireAfterSeconds=seconds, **partial)


INDEXES: dict[str, list[IndexSpec]] = {
    "sites": [
        _index(("site_id", UP), name="site_id_unique", unique=True),
        _index(("instance_id", UP), name="instance_id_unique", unique=True),
        _index(("status", UP), name="status"),
    ],
    "users": [
        _index(("site_id", UP), ("user_id", UP), name="site_user_unique", unique=True),
    ],
    "balances": [
        _index(("site_id", UP), ("user_id", UP), name="site_user_unique", unique=True),
    ],
    "ledger": [
        # The exactly-once guard of every money primitive: a permanent document, never TTL'd.
        _index(("source_ref", UP), name="source_ref_unique", unique=True),
        _index(("transaction_id", UP), name="transaction_id_unique", unique=True),
        _index(("parent_ref", UP), name="parent_ref", sparse=True),
        _index(
            ("site_id", UP),
            ("user_id", UP),
            ("created_at", DOWN),
            ("_id", DOWN),
            name="site_user_newest",
        ),
        _index(("kind", UP), ("credit_type", UP), name="kind_credit_type"),
        # Start-up looks for legacy pending entries (see money.pending_entries_refusal).
        _index(("state", UP), name="state_pending", partialFilterExpression={"state": "pending"}),
    ],
    "packages": [
        _index(("package_id", UP), name="package_id_unique", unique=True),
    ],
    CHECKOUT_SESSIONS: [
        _index(("site_id", UP), ("user_id", UP), name="site_id_1_user_id_1"),
        _index(("session_id", UP), name="session_id_1", unique=True),
        _index(("payment_intent_id", UP), name="payment_intent_id", sparse=True),
        # Only sessions that can no longer be paid are deleted (an earlier version's
        # `expires_at_pending_ttl` deleted pending ones: `index_changes` replaces it).
        _ttl("expires_at", "expires_at_expired_ttl", EXPIRED_SESSION_GRACE_SECONDS, "expired"),
    ],
    "payment_intents": [
        _index(("payment_intent_id", UP), name="payment_intent_id_unique", unique=True),
        _index(("site_id", UP), ("user_id", UP), name="site_user"),
    ],
    "stripe_events": [
        _index(("event_id", UP), name="event_id_unique", unique=True),
    ],
    "webhook_outbox": [
        _index(("delivery_id", UP), name="delivery_id_unique", unique=True),
        _index(("status", UP), ("next_attempt_at", UP), name="status_due"),
        # The claim's order (oldest pending first), so it never sorts the backlog in memory.
        _index(("status", UP), ("created_at", UP), ("_id", UP), name="status_oldest"),
        _index(("site_id", UP), ("created_at", DOWN), ("_id", DOWN), name="site_newest"),
    ],
    "webhook_attempts": [
        _index(("delivery_id", UP), ("attempt", UP), name="delivery_attempt"),
    ],
    "analytics": [
        _index(("site_id", UP), ("kind", UP), ("_id", DOWN), name="site_kind_newest"),
    ],
    "settings": [],
    "rate_limits": [
        _index(("key", UP), ("window_start", UP), name="key_window_unique", unique=True),
        _ttl("expires_at", "expires_at_ttl", 0),
    ],
}


def delivered_ttl_indexes(retention_seconds: int) -> dict[str, list[IndexSpec]]:
    """The TTL indexes that delete delivered webhooks and their attempt records
    `retention_seconds` after delivery (`WEBHOOK_RETENTION_DAYS`): `delivered_on`, a date set
    only on delivery (a pending or failed delivery has none, so it is kept)."""
    return {
        "webhook_outbox": [
            _ttl("delivered_on", "delivered_on_ttl", retention_seconds, "delivered")
        ],
        "webhook_attempts": [_ttl("delivered_on", "delivered_on_ttl", retention_seconds)],
    }


#: The seed's `$jsonSchema` for `stripe_checkout_sessions`, adapted to our records:
#: site_id is our site id string (the seed's was an ObjectId) and user_id the WordPress user
#: id as a string (the seed's was an int), as everywhere else in this service; user_email may
#: be null; completed_at is a date like created_at and expires_at. Extra fields are allowed.
CHECKOUT_SESSION_VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["site_id", "user_id", "session_id", "package_id", "created_at"],
        "properties": {
            "site_id": {"bsonType": "string"},
            "user_id": {"bsonType": "string"},
            "user_email": {"bsonType": ["string", "null"]},
            "session_id": {"bsonType": "string"},
            "package_id": {"bsonType": "string"},
            "credit_type": {"bsonType": "string", "enum": list(CREDIT_TYPES)},
            "amount": {"bsonType": "number"},
            "currency": {"bsonType": "string"},
            "status": {"bsonType": "string", "enum": ["pending", "completed", "expired", "failed"]},
            "created_at": {"bsonType": "date"},
            "expires_at": {"bsonType": ["date", "null"]},
            "completed_at": {"bsonType": ["date", "null"]},
        },
    }
}

#: Credits are whole numbers: a Decimal128 or a double written by hand would make every
#: money transaction of its user fail (or round), so the server refuses to store one.
WHOLE = {"bsonType": ["int", "long"]}

BALANCES_VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["site_id", "user_id", "credits"],
        "properties": {
            "site_id": {"bsonType": "string"},
            "user_id": {"bsonType": "string"},
            "credits": {"bsonType": "object", "additionalProperties": WHOLE},
        },
    }
}

#: A ledger entry's amounts, and what reverse() keeps on a grant, are whole numbers.
LEDGER_VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["source_ref", "site_id", "user_id", "credit_type", "delta"],
        "properties": {
            "source_ref": {"bsonType": "string"},
            "delta": WHOLE,
            "balance_after": WHOLE,
            "reversed": WHOLE,
            "revision": WHOLE,
            "reversals": {
                "bsonType": "object",
                "additionalProperties": {
                    "bsonType": "object",
                    "properties": {"target": WHOLE, "version": WHOLE},
                },
            },
        },
    }
}

VALIDATORS: dict[str, dict[str, Any]] = {
    CHECKOUT_SESSIONS: CHECKOUT_SESSION_VALIDATOR,
    "balances": BALANCES_VALIDATOR,
    "ledger": LEDGER_VALIDATOR,
}


class MongoSetupError(StoreError):
    """The server or database cannot run this service as it is; the message says what to do."""


#: MongoDB 5.0, the first with snapshot reads in transactions (`hello.maxWireVersion`).
MIN_WIRE_VERSION = 13

REPLICA_SET_NEEDED = (
    "MongoDB at MONGODB_URL is a standalone server. Money moves in multi-document"
    " transactions, which only a replica set (or a sharded cluster's mongos) runs; a one-node"
    " replica set is enough: start mongod with --replSet rs0, run rs.initiate() once in"
    " mongosh, and add ?replicaSet=rs0 to MONGODB_URL."
)


def server_refusal(hello: dict[str, Any]) -> str | None:
    """Why the server that answered `hello` cannot hold our money, or None when it can: a
    replica-set member or a mongos, with sessions, of MongoDB 5.0 or newer."""
    if "setName" not in hello and hello.get("msg") != "isdbgrid":
        return REPLICA_SET_NEEDED
    if "logicalSessionTimeoutMinutes" not in hello:
        return (
            "MongoDB at MONGODB_URL runs without sessions, so it has no transactions;"
            " enable sessions (a replica set of MongoDB 5.0+ has them)."
        )
    if int(hello.get("maxWireVersion", 0)) < MIN_WIRE_VERSION:
        return (
            f"MongoDB at MONGODB_URL speaks wire version {hello.get('maxWireVersion')};"
            " MongoDB 5.0 or newer (wire version 13+) is needed for snapshot reads in"
            " transactions. Upgrade the server."
        )
    return None


# ---------------------------------------------------------------------------- index changes
_OPTIONS = ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression")


def _key_pattern(index: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    # Servers may answer 1.0 for 1; text, 2dsphere and hashed keys are strings.
    return tuple(
        (k, int(v) if isinstance(v, int | float) else v) for k, v in dict(index["key"]).items()
    )


def _known_kind(index: Mapping[str, Any]) -> bool:
    """An ordinary ascending/descending index: the only kind we compare or ever drop."""
    return all(v in (UP, DOWN) for _, v in _key_pattern(index))


def _same_options(existing: Mapping[str, Any], spec: IndexSpec) -> bool:
    have = {k: existing[k] for k in _OPTIONS if k in existing and existing[k] is not False}
    want = {k: v for k, v in spec.options.items() if k in _OPTIONS and v is not False}
    return have == want


@dataclass(frozen=True)
class IndexChange:
    """Build `spec`, then drop `replaces`: existing indexes that hold its name or key pattern
    with other options. All of them are plain, non-unique indexes."""

    spec: IndexSpec
    replaces: tuple[str, ...] = ()


def index_changes(
    collection: str, existing: Sequence[Mapping[str, Any]], wanted: list[IndexSpec]
) -> list[IndexChange]:
    """What to build so that `wanted` exists, given the `existing` indexes (listIndexes).

    An index equal to a wanted one (any name) needs nothing. Indexes of unknown kinds (text,
    2dsphere, hashed...) are left alone. A unique index is never dropped automatically: one
    that differs from ours raises MongoSetupError saying what to do, since dropping it would
    open a window without its guarantee."""
    current = [i for i in existing if i.get("name") != "_id_"]
    changes = []
    for spec in wanted:
        if any(_key_pattern(i) == spec.keys and _same_options(i, spec) for i in current):
            continue
        replaces = []
        for index in current:
            if index["name"] != spec.name and _key_pattern(index) != spec.keys:
                continue
            if not _known_kind(index):
                continue  # if it blocks ours, building ours fails start-up with its name
            if index.get("unique"):
                raise MongoSetupError(
                    f"the unique index {index['name']!r} on {collection} differs from ours"
                    f" ({dict(spec.keys)}, {spec.kwargs()}); unique indexes are never dropped"
                    " automatically. Check that nothing relies on it, drop it by hand"
                    f" (db.{collection}.dropIndex({index['name']!r})), then restart."
                )
            replaces.append(index["name"])
        changes.append(IndexChange(spec, tuple(replaces)))
    return changes


# ---------------------------------------------------------------------------- start-up failures
def unreachable(reason: str, timeout_ms: int) -> str:
    """Why `open()` found no server to talk to, in one line: `reason` is pymongo's."""
    reason = " ".join(reason.partition(", Timeout:")[0].split())  # not the topology dump
    return (
        f"MongoDB at MONGODB_URL did not answer within MONGODB_TIMEOUT_MS ({timeout_ms} ms):"
        f" {reason}. Check the URL's hosts and replicaSet name and that mongod runs there."
    )


def index_build_unfinished(index: str, collection: str, reason: str) -> str:
    """Why `open()` stopped while the server was still building one of our indexes."""
    return (
        f"the index {index!r} on {collection} was still building when"
        f" MONGODB_INDEX_BUILD_TIMEOUT_MS ran out ({' '.join(reason.split())}). The server goes"
        " on building it: a large collection takes a while, and on a replica set the build"
        " also waits for a majority of the voting, data-bearing members, so members that are"
        " down hold it. Follow it with db.currentOp({'command.createIndexes': {$exists:"
        " true}}) and rs.status(), and start again once it is done (or raise"
        " MONGODB_INDEX_BUILD_TIMEOUT_MS)."
    )
