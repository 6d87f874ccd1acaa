"""Delivered webhooks and their attempt records are deleted once past the retention period;
pending and failed ones are kept (`Store.prune_webhooks`), on every adapter (MongoDB also
through the mongomock shim, NOT MongoDB: see `mongomock_async.py`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from service.domain.models import AttemptOutcome, WebhookAttempt
from service.store import SQLiteStore, Store

from .builders import draft, new_site

DAY = 24 * 3600.0
URL = "mongodb://mongomock.invalid/?replicaSet=rs0"


async def attempted(store: Store, site_id: str, *outcomes: tuple[float, bool, bool]) -> str:
    """Enqueue a delivery and record attempts `(at, delivered, retry)`: its id."""
    delivery = await store.enqueue_webhook(draft(site_id))
    for number, (at, delivered, retry) in enumerate(outcomes, start=1):
        claimed = await store.claim_due_webhooks(
            "w", now=time.time(), lease_seconds=30, limit=100, include_scheduled=True
        )
        assert [d.delivery_id for d in claimed] == [delivery.delivery_id]  # none other pending
        attempt = WebhookAttempt(number, at, 200 if delivered else 500, None, 1.0)
        await store.record_webhook_attempts(
            "w",
            [
                AttemptOutcome(
                    delivery.delivery_id, attempt, delivered, time.time() if retry else None
                )
            ],
        )
    return delivery.delivery_id


async def test_prune_deletes_delivered_webhooks_past_retention_and_keeps_the_rest(
    store: Store, site_id: str, backend
) -> None:
    now = time.time()
    old = now - 10 * DAY
    kept_recent = await attempted(store, site_id, (now - DAY, True, False))
    old_delivered = await attempted(store, site_id, (old, True, False))
    old_retried = await attempted(store, site_id, (old - 60, False, True), (old, True, False))
    old_failed = await attempted(store, site_id, (old, False, False))
    pending = (await store.enqueue_webhook(draft(site_id))).delivery_id

    assert await store.prune_webhooks(now - 7 * DAY, batch=1) == 2

    for gone in (old_delivered, old_retried):
        assert await store.get_webhook_delivery(gone) is None
        assert backend.attempt_rows(gone) == 0
    for kept in (kept_recent, old_failed, pending):
        assert await store.get_webhook_delivery(kept) is not None
    assert backend.attempt_rows(old_failed) == 1
    assert (await store.get_webhook_delivery(old_failed)).status == "failed"
    assert await store.prune_webhooks(now - 7 * DAY) == 0


async def test_a_retried_old_delivery_is_not_pruned(store: Store, site_id: str) -> None:
    """An admin retry makes a delivered webhook pending again: it is kept."""
    now = time.time()
    delivery_id = await attempted(store, site_id, (now - 10 * DAY, True, False))
    await store.retry_webhook_delivery(delivery_id, now=now)
    assert await store.prune_webhooks(now - 7 * DAY) == 0
    assert (await store.get_webhook_delivery(delivery_id)).status == "pending"


async def test_sqlite_prunes_each_batch_in_a_write_of_its_own(tmp_path) -> None:
    """So a request queued behind the sweep waits for one small batch, not for all of it."""
    store = SQLiteStore(tmp_path / "rakubun.sqlite3")
    await store.open()
    try:
        site_id = (await store.create_site(new_site())).site_id
        old = time.time() - 10 * DAY
        for _ in range(5):
            await attempted(store, site_id, (old, True, False))
        jobs = store.writer.jobs_committed
        assert await store.prune_webhooks(time.time() - 7 * DAY, batch=2) == 5
        assert store.writer.jobs_committed - jobs == 3  # 2 + 2 + 1
    finally:
        await store.close()


async def test_mongodb_ttl_deletes_delivered_webhooks_and_their_attempts_after_retention() -> None:
    """On the mongomock shim's TTL pass (NOT MongoDB's TTL monitor): the TTL indexes made
    from WEBHOOK_RETENTION_DAYS delete a delivered webhook and every attempt of it once that
    old, and never a failed or pending one."""
    pytest.importorskip("mongomock", reason="mongomock not installed")
    from service.store.mongo import MongoStore

    from .mongomock_async import AsyncMongoClient, ShimServer

    server = ShimServer(retry_every_transaction=False)
    client = AsyncMongoClient(server)
    store = MongoStore(URL, database="rakubun_test", client=client, webhook_retention_days=3)  # type: ignore[arg-type]
    await store.open()
    try:
        site_id = (await store.create_site(new_site())).site_id
        now = time.time()
        delivered = await attempted(store, site_id, (now - 60, False, True), (now, True, False))
        failed = await attempted(store, site_id, (now, False, False))
        pending = (await store.enqueue_webhook(draft(site_id))).delivery_id
        moment = datetime.fromtimestamp(now, UTC)
        assert server.ttl_pass(moment + timedelta(days=2)) == 0
        assert server.ttl_pass(moment + timedelta(days=4)) == 3  # the delivery, 2 attempts
        assert await store.get_webhook_delivery(delivered) is None
        for kept in (failed, pending):
            assert await store.get_webhook_delivery(kept) is not None
        assert len((await store.get_webhook_delivery(failed)).attempt_log) == 1
        assert server.ttl_pass(moment + timedelta(days=400)) == 0
    finally:
        await store.close()


async def test_the_dispatcher_prunes_what_webhook_retention_days_lets_go(tmp_path) -> None:
    from service.outbound.notify import WebhookDispatcher
    from service.settings import Settings

    store = SQLiteStore(tmp_path / "rakubun.sqlite3")
    await store.open()
    try:
        site_id = (await store.create_site(new_site())).site_id
        older = await attempted(store, site_id, (time.time() - 4 * DAY, True, False))
        newer = await attempted(store, site_id, (time.time() - 2 * DAY, True, False))
        settings = Settings.from_env({"WEBHOOK_RETENTION_DAYS": "3"})
        assert await WebhookDispatcher(store, settings).prune_delivered() == 1
        assert await store.get_webhook_delivery(older) is None
        assert await store.get_webhook_delivery(newer) is not None
    finally:
        await store.close()


async def test_sqlite_finds_old_deliveries_by_their_index(tmp_path) -> None:
    """The sweep reads only the old delivered rows, in order, however many are delivered
    within the retention period (not every delivered row, sorted)."""
    store = SQLiteStore(tmp_path / "rakubun.sqlite3")
    await store.open()
    try:
        statements: list[str] = []
        await store.writer.call(lambda: store._db.set_trace_callback(statements.append))  # type: ignore[union-attr]
        await store.prune_webhooks(time.time())
        await store.writer.call(lambda: store._db.set_trace_callback(None))  # type: ignore[union-attr]
        [select] = [s for s in statements if s.lstrip().startswith("SELECT")]
        plan = await store._run(store._read, "EXPLAIN QUERY PLAN " + select)
        assert [row[-1] for row in plan] == [
            "SEARCH webhook_outbox USING INDEX outbox_delivered (status=? AND delivered_at<?)"
        ]
    finally:
        await store.close()
