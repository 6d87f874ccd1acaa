"""What exists in a MongoDB database of ours: collections, indexes and the one validator.

Plain data and pure functions, so they are tested without a server
(`tests/store/test_mongo_schema.py`); `service.store.mongo` applies them on `open()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..domain.models import CREDIT_TYPES

CHECKOUT_SESSIONS = "stripe_checkout_sessions"

#: A pending session outlives its `expires_at` by this long before the TTL monitor deletes
#: it: Stripe retries a webhook for up to 3 days, and a late `checkout.session.completed`
#: still needs the session's frozen terms.
PENDING_SESSION_GRACE_SECONDS = 7 * 24 * 3600

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
        _index(("site_id", UP), ("user_id", UP), ("_id", DOWN), name="site_user_newest"),
        _index(("kind", UP), ("credit_type", UP), name="kind_credit_type"),
    ],
    "packages": [
        _index(("package_id", UP), name="package_id_unique", unique=True),
    ],
    CHECKOUT_SESSIONS: [
        _index(("site_id", UP), ("user_id", UP), name="site_id_1_user_id_1"),
        _index(("session_id", UP), name="session_id_1", unique=True),
        _index(("payment_intent_id", UP), name="payment_intent_id", sparse=True),
        # Only unpaid sessions expire: a paid one is our record of a sale.
        _index(("expires_at", UP), name="expires_at_pending_ttl",
               expireAfterSeconds=PENDING_SESSION_GRACE_SECONDS,
               partialFilterExpression={"status": "pending"}),
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
        _index(("site_id", UP), ("_id", DOWN), name="site_newest"),
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
        _index(("expires_at", UP), name="expires_at_ttl", expireAfterSeconds=0),
    ],
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
            "status": {"bsonType": "string", "enum": ["pending", "completed", "expired"]},
            "created_at": {"bsonType": "date"},
            "expires_at": {"bsonType": ["date", "null"]},
            "completed_at": {"bsonType": ["date", "null"]},
        },
    }
}

VALIDATORS: dict[str, dict[str, Any]] = {CHECKOUT_SESSIONS: CHECKOUT_SESSION_VALIDATOR}


def supports_transactions(hello: dict[str, Any]) -> bool:
    """True when the `hello` reply comes from a replica-set member or a mongos, the servers
    that run multi-document transactions; False for a standalone server."""
    if "logicalSessionTimeoutMinutes" not in hello:
        return False
    return "setName" in hello or hello.get("msg") == "isdbgrid"


def _same_options(existing: dict[str, Any], spec: IndexSpec) -> bool:
    relevant = ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression")
    have = {k: existing[k] for k in relevant if k in existing and existing[k] is not False}
    want = {k: v for k, v in spec.options.items() if k in relevant and v is not False}
    return have == want


def stale_indexes(existing: list[dict[str, Any]], wanted: list[IndexSpec]) -> list[str]:
    """Names of existing indexes to drop before creating `wanted`: any that shares a name or
    a key pattern with a wanted index but differs in options. This removes the seed's TTL on
    `expires_at`, which deleted paid sessions, and its non-unique `session_id_1`."""
    stale = []
    for index in existing:
        if index.get("name") == "_id_":
            continue
        keys = tuple((k, int(v)) for k, v in dict(index["key"]).items())
        for spec in wanted:
            if (index["name"] == spec.name or keys == spec.keys) and not (
                index["name"] == spec.name and keys == spec.keys and _same_options(index, spec)
            ):
                stale.append(index["name"])
                break
    return stale
