"""`stats` and `count_ledger_entries` read running totals kept with each write: after any
sequence of money operations they equal what a scan of the ledger and the purchases says.

Runs on SQLite and on MongoStore over the mongomock shim (NOT MongoDB: see
`mongomock_async.py`), a fresh store per example.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.models import CREDIT_TYPES, PurchaseCompletion
from service.store import SQLiteStore, Store
from service.store.base import StoreError
from service.store.money_plan import ReversedGrant, fold_reversals, net_revenue

from .builders import new_intent, new_session, new_site

USERS = st.sampled_from(["1", "2"])
TYPES = st.sampled_from(CREDIT_TYPES)
CURRENCIES = st.sampled_from(["JPY", "usd"])

OPERATIONS = st.one_of(
    st.tuples(
        st.just("purchase"),
        USERS,
        TYPES,
        st.integers(1, 20),
        st.integers(0, 3000),
        CURRENCIES,
        st.sampled_from(["checkout", "intent"]),
    ),
    st.tuples(st.just("replay_purchase"), st.integers(0, 5)),
    st.tuples(st.just("deduct"), USERS, TYPES, st.integers(1, 15), st.sampled_from([None, "k"])),
    st.tuples(st.just("adjust"), USERS, TYPES, st.integers(-10, 10), st.sampled_from("ab")),
    st.tuples(st.just("welcome"), st.sampled_from(["3", "4"])),
    st.tuples(
        st.just("reverse"),
        st.integers(0, 5),
        st.integers(0, 25),
        st.sampled_from(["refund", "dispute:dp_1"]),
        st.sampled_from([None, 1, 2, 3]),
        st.sampled_from([None, 0, 100, 5000]),
    ),
    st.tuples(st.just("complete_session"), CURRENCIES, st.integers(0, 900)),
)


async def play(store: Store, operations: list[tuple[Any, ...]]) -> None:
    site_id = (await store.create_site(new_site())).site_id
    grants: list[tuple[str, PurchaseCompletion]] = []
    for number, op in enumerate(operations):
        match op:
            case ("purchase", user, credit_type, credits, amount, currency, record):
                if record == "checkout":
                    session = new_session(site_id, user, amount=amount, currency=currency)
                    await store.create_checkout_session(session)
                    purchase = PurchaseCompletion("checkout", session.session_id)
                else:
                    intent = new_intent(site_id, user, amount=amount, currency=currency)
                    await store.create_payment_intent(intent)
                    purchase = PurchaseCompletion("intent", intent.payment_intent_id)
                ref = f"purchase:{number}"
                meta = {"amount": amount, "currency": currency}
                await store.grant_once(
                    site_id, user, credit_type, credits, ref, meta=meta, purchase=purchase
                )
                grants.append((ref, purchase))
            case ("replay_purchase", index) if grants:
                ref, purchase = grants[index % len(grants)]
                first = await store.get_ledger_entry(ref)
                assert first is not None
                await store.grant_once(
                    site_id, first.user_id, first.credit_type, first.delta, ref, purchase=purchase
                )
            case ("deduct", user, credit_type, amount, key):
                try:
                    await store.deduct(site_id, user, credit_type, amount, idempotency_key=key)
                except StoreError:
                    pass  # a key reused for another deduction: refused, nothing written
            case ("adjust", user, credit_type, delta, ref):
                try:
                    await store.adjust(
                        site_id, user, credit_type, delta, f"adj:{ref}:{number % 3}", reason="r"
                    )
                except StoreError:
                    pass  # a reused adjustment id: refused, nothing written
            case ("welcome", user):
                await store.ensure_user(site_id, user, None, {"article": 5, "image": 2})
            case ("reverse", index, credits, bucket, version, amount_reversed) if grants:
                ref, _ = grants[index % len(grants)]
                meta = {} if amount_reversed is None else {"amount_reversed": amount_reversed}
                await store.reverse(
                    ref, credits, reason="r", bucket=bucket, version=version, meta=meta
                )
            case ("complete_session", currency, amount):
                session = new_session(site_id, amount=amount, currency=currency)
                await store.create_checkout_session(session)
                await store.transition_checkout_session(
                    session.session_id, "pending", "completed", {}
                )


async def scanned(store: Store, purchases: list[tuple[str, int]]) -> dict[str, Any]:
    """The figures from every ledger entry and the completed purchases (`purchases`:
    currency and amount of each), as the old scanning `stats` computed them."""
    entries = list(reversed(await store.list_ledger(limit=100_000)))  # oldest first
    sold = {
        t: sum(e.delta for e in entries if (e.kind, e.credit_type) == ("purchase", t))
        for t in CREDIT_TYPES
    }
    spent = {
        t: -sum(e.delta for e in entries if (e.kind, e.credit_type) == ("deduction", t))
        for t in CREDIT_TYPES
    }
    gross: dict[str, int] = {}
    for currency, amount in purchases:
        gross[currency.upper()] = gross.get(currency.upper(), 0) + amount
    taken = fold_reversals(
        (e.parent_ref or "", e.delta, e.meta) for e in entries if e.kind in ("reversal", "restore")
    )
    by_ref = {e.source_ref: e for e in entries}
    reversals = [ReversedGrant(by_ref[ref].meta, by_ref[ref].delta, *taken[ref]) for ref in taken]
    return {
        "credits_sold": sold,
        "credits_spent": spent,
        "revenue": net_revenue(gross, reversals),
        "entries": dict(Counter(e.kind for e in entries)),
    }


def open_store(kind: str, folder: Path) -> Store:
    if kind == "sqlite":
        return SQLiteStore(folder / "rakubun.sqlite3")
    from .conftest import MongomockBackend

    return MongomockBackend().make()


async def check(kind: str, operations: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(kind, Path(folder))
        await store.open()
        try:
            await play(store, operations)
            purchases = [
                (r.currency, r.amount) for r in await all_records(store) if r.status == "completed"
            ]
            want = await scanned(store, purchases)
            stats = await store.stats()
            got = {k: stats[k] for k in ("credits_sold", "credits_spent", "revenue")}
            got["entries"] = await store.count_ledger_entries()
            assert got == want
        finally:
            await store.close()


async def all_records(store: Store) -> list[Any]:
    """Every checkout session and payment intent of every user (through the store's reads)."""
    records: list[Any] = []
    if isinstance(store, SQLiteStore):
        rows = await store._run(  # test-only: the store has no listing of purchases
            store._read,
            "SELECT session_id, 'c' FROM checkout_sessions UNION ALL"
            " SELECT payment_intent_id, 'i' FROM payment_intents",
        )
    else:
        from service.store.mongo.schema import CHECKOUT_SESSIONS

        db = store.db  # type: ignore[attr-defined]
        rows = [(d["session_id"], "c") async for d in db[CHECKOUT_SESSIONS].find({})]
        rows += [(d["payment_intent_id"], "i") async for d in db.payment_intents.find({})]
    for record_id, kind in rows:
        record = (
            await store.get_checkout_session(record_id)
            if kind == "c"
            else await store.get_payment_intent(record_id)
        )
        assert record is not None
        records.append(record)
    return records


@pytest.mark.parametrize("kind", ["sqlite", "mongomock"])
@settings(max_examples=25, deadline=None)
@given(operations=st.lists(OPERATIONS, max_size=14))
def test_stats_equal_a_scan_after_any_money_operations(kind: str, operations: list) -> None:
    if kind == "mongomock":
        pytest.importorskip("mongomock", reason="mongomock not installed")
    asyncio.run(check(kind, operations))


def bought_spent_and_refunded(record: str) -> list[tuple[Any, ...]]:
    """10 credits bought for 1000 JPY (through a checkout session or a payment intent), 3
    spent, 4 refunded: what the backfill tests write before they drop the totals."""
    return [
        ("purchase", "1", "article", 10, 1000, "JPY", record),
        ("deduct", "1", "article", 3, None),
        ("reverse", 0, 4, "refund", None, None),
    ]


def test_opening_an_older_database_fills_the_totals_from_its_ledger(tmp_path: Path) -> None:
    """Migration 4 backfills the totals from the ledger already there."""

    async def scenario() -> None:
        store = SQLiteStore(tmp_path / "old.sqlite3")
        await store.open()
        await play(store, bought_spent_and_refunded("checkout"))
        want = await store.stats()
        await store.close()
        with sqlite3.connect(tmp_path / "old.sqlite3") as raw:  # as before migration 4
            raw.execute("DROP TABLE totals")
            raw.execute("UPDATE schema_version SET version = 3")
        raw.close()
        store = SQLiteStore(tmp_path / "old.sqlite3")
        await store.open()
        try:
            assert await store.stats() == want
            assert want["revenue"] == {"JPY": 600} and want["credits_spent"]["article"] == 3
        finally:
            await store.close()

    asyncio.run(scenario())


def test_stats_and_ledger_counts_never_read_the_ledger(tmp_path: Path) -> None:
    """What makes them flat as the ledger grows: no statement they run names the ledger."""

    async def scenario() -> None:
        store = SQLiteStore(tmp_path / "rakubun.sqlite3")
        await store.open()
        try:
            await play(store, [("purchase", "1", "article", 10, 1000, "JPY", "checkout")])
            statements: list[str] = []
            await store.reader.call(lambda: store._rdb.set_trace_callback(statements.append))  # type: ignore[union-attr]
            await store.stats()
            await store.count_ledger_entries()
            await store.reader.call(lambda: store._rdb.set_trace_callback(None))  # type: ignore[union-attr]
            assert statements and not [s for s in statements if "ledger" in s.lower()]
        finally:
            await store.close()

    asyncio.run(scenario())


def test_opening_an_older_mongodb_database_fills_the_totals_from_its_ledger() -> None:
    """The backfill on MongoDB (over the mongomock shim, NOT MongoDB), once per database."""
    pytest.importorskip("mongomock", reason="mongomock not installed")
    from .conftest import MongomockBackend

    backend = MongomockBackend()

    async def scenario() -> None:
        store = backend.make()
        await store.open()
        await play(store, bought_spent_and_refunded("intent"))
        want = await store.stats()
        await store.close()
        backend.raw[backend.database].totals.drop()  # as before the totals existed
        for _ in range(2):  # the second opening finds them filled and leaves them
            store = backend.make()
            await store.open()
            try:
                assert await store.stats() == want
            finally:
                await store.close()
        assert want["revenue"] == {"JPY": 600} and want["credits_spent"]["article"] == 3

    asyncio.run(scenario())


def test_after_an_older_version_moved_money_the_next_opening_refills_the_totals(
    tmp_path: Path,
) -> None:
    """A version from before the totals sets schema_version back to 2 and moves money
    without them: the next opening runs migrations 3 and 4 again and refills the totals."""

    async def scenario() -> None:
        path = tmp_path / "shared.sqlite3"
        store = SQLiteStore(path)
        await store.open()
        await play(store, [("purchase", "1", "article", 10, 1000, "JPY", "checkout")])
        await store.close()
        with sqlite3.connect(path) as raw:  # what the older version did
            raw.execute("UPDATE schema_version SET version = 2")
            raw.execute(
                "INSERT INTO ledger (transaction_id, site_id, user_id, credit_type, delta,"
                " balance_after, kind, source_ref, meta, created_at) SELECT 'txn_old', site_id,"
                " user_id, 'article', -4, 6, 'deduction', 'deduct:old', '{}', created_at"
                " FROM ledger LIMIT 1"
            )
            raw.execute("UPDATE balances SET balance = 6 WHERE credit_type = 'article'")
        raw.close()
        store = SQLiteStore(path)
        await store.open()
        try:
            assert (await store.stats())["credits_spent"]["article"] == 4
            assert (await store.reconcile()).ok
        finally:
            await store.close()
        with sqlite3.connect(path) as raw:
            assert raw.execute("SELECT version FROM schema_version").fetchone() == (4,)
        raw.close()

    asyncio.run(scenario())
