"""The Store contract, the webhook outbox: leases, claims, attempts, retries. Every test runs
against every backend (tests/store/conftest.py: SQLite, the mongomock shim standing in for
MongoDB, and a real MongoDB where one is available).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from service.domain.models import (
    AttemptOutcome,
    Balances,
    LedgerEntry,
    WebhookAttempt,
    WebhookDraft,
)
from service.store import Store

from ..builders import OpenStore, draft, failed_once, funded, new_site, notify_plugin


async def test_a_claimed_delivery_stays_leased_until_the_lease_expires(
    store: Store, site_id: str
) -> None:
    delivery = await store.enqueue_webhook(draft(site_id))
    now = time.time()
    claim = dict(lease_seconds=30, limit=10, include_scheduled=False)
    [mine] = await store.claim_due_webhooks("worker-a", now=now, **claim)
    assert mine.delivery_id == delivery.delivery_id
    assert await store.claim_due_webhooks("worker-b", now=now + 1, **claim) == []
    [theirs] = await store.claim_due_webhooks("worker-b", now=now + 31, **claim)
    assert theirs.delivery_id == delivery.delivery_id


async def test_a_draft_claimed_at_birth_is_stored_leased_under_its_id(
    store: Store, site_id: str
) -> None:
    now = time.time()
    born = replace(
        draft(site_id), delivery_id="whd_born", lease_owner="worker-a", lease_until=now + 30
    )
    delivery = await store.enqueue_webhook(born)
    claim = dict(lease_seconds=30, limit=10, include_scheduled=True)

    assert delivery.delivery_id == "whd_born"
    assert await store.claim_due_webhooks("worker-b", now=now + 1, **claim) == []
    [theirs] = await store.claim_due_webhooks("worker-b", now=now + 31, **claim)
    assert theirs.delivery_id == "whd_born"


async def test_its_owner_records_a_delivery_claimed_at_birth_without_claiming_it(
    store: Store, site_id: str
) -> None:
    await funded(store, site_id, credits=10)
    inner = notify_plugin()
    now = time.time()

    def born_leased(entry: LedgerEntry, balances: Balances) -> WebhookDraft | None:
        made = inner(entry, balances)
        assert made is not None
        return replace(made, delivery_id="whd_deduct", lease_owner="worker-a", lease_until=now + 30)

    result = await store.deduct(site_id, "42", "article", 1, notify=born_leased)
    assert result.ok
    claim = dict(lease_seconds=30, limit=10, include_scheduled=True)
    assert await store.claim_due_webhooks("worker-b", now=now + 1, **claim) == []
    attempt = WebhookAttempt(1, now + 1, 200, None, 3.0)
    await store.record_webhook_attempts(
        "worker-a", [AttemptOutcome("whd_deduct", attempt, True, None)]
    )

    [delivered] = await store.list_webhook_deliveries(site_id)
    assert (delivered.delivery_id, delivered.status, delivered.attempts) == (
        "whd_deduct",
        "delivered",
        1,
    )
    assert await store.claim_due_webhooks("worker-b", now=now + 31, **claim) == []


async def test_claim_skips_scheduled_deliveries_unless_asked(store: Store, site_id: str) -> None:
    delivery = await store.enqueue_webhook(draft(site_id))
    [claimed] = await store.claim_due_webhooks(
        "w", now=time.time(), lease_seconds=30, limit=5, include_scheduled=False
    )
    later = time.time() + 600
    await store.record_webhook_attempts(
        "w",
        [failed_once(claimed.delivery_id, retry_at=later, duration_ms=12.5)],
    )
    claim = dict(lease_seconds=30, limit=5)
    assert (
        await store.claim_due_webhooks("w", now=time.time(), include_scheduled=False, **claim) == []
    )
    [forced] = await store.claim_due_webhooks("w", now=time.time(), include_scheduled=True, **claim)
    assert forced.delivery_id == delivery.delivery_id
    assert forced.next_attempt_at == later


async def test_claim_honours_the_limit_oldest_first(store: Store, site_id: str) -> None:
    ids = [(await store.enqueue_webhook(draft(site_id))).delivery_id for _ in range(3)]
    batch = await store.claim_due_webhooks(
        "w", now=time.time(), lease_seconds=30, limit=2, include_scheduled=False
    )
    assert {d.delivery_id for d in batch} == set(ids[:2])


async def test_concurrent_claims_lease_each_delivery_once(
    store: Store, site_id: str, open_store: OpenStore
) -> None:
    for _ in range(20):
        await store.enqueue_webhook(draft(site_id))
    stores = [store, await open_store(), await open_store()]
    now = time.time()
    batches = await asyncio.gather(
        *(
            stores[i % 3].claim_due_webhooks(
                f"worker-{i}", now=now, lease_seconds=60, limit=3, include_scheduled=False
            )
            for i in range(10)
        )
    )
    claimed = [d.delivery_id for batch in batches for d in batch]
    assert len(claimed) == len(set(claimed)) == 20


async def test_record_attempts_delivered_rescheduled_and_failed(store: Store, site_id: str) -> None:
    ok, retry, dead = [await store.enqueue_webhook(draft(site_id)) for _ in range(3)]
    now = time.time()
    await store.claim_due_webhooks(
        "w", now=now, lease_seconds=30, limit=10, include_scheduled=False
    )
    at = 1_900_000_000.25
    await store.record_webhook_attempts(
        "w",
        [
            AttemptOutcome(ok.delivery_id, WebhookAttempt(1, at, 200, None, 8.0), True),
            AttemptOutcome(
                retry.delivery_id, WebhookAttempt(1, at, 503, "HTTP 503", 9.0), False, now + 60
            ),
            AttemptOutcome(
                dead.delivery_id, WebhookAttempt(1, at, None, "connection refused", None), False
            ),
        ],
    )
    delivered = await store.get_webhook_delivery(ok.delivery_id)
    assert (delivered.status, delivered.attempts, delivered.last_status_code) == (
        "delivered",
        1,
        200,
    )
    assert delivered.delivered_at == "2030-03-17T17:46:40.250000Z"
    rescheduled = await store.get_webhook_delivery(retry.delivery_id)
    assert (rescheduled.status, rescheduled.next_attempt_at, rescheduled.last_error) == (
        "pending",
        now + 60,
        "HTTP 503",
    )
    failed = await store.get_webhook_delivery(dead.delivery_id)
    assert (failed.status, failed.last_status_code, failed.last_error) == (
        "failed",
        None,
        "connection refused",
    )
    assert failed.attempt_log == (WebhookAttempt(1, at, None, "connection refused", None),)
    assert await store.count_pending_webhooks() == 1
    assert await store.get_webhook_delivery("whd_missing") is None


async def test_an_outcome_for_a_lease_taken_over_changes_only_the_attempt_log(
    store: Store, site_id: str
) -> None:
    mine, theirs = [await store.enqueue_webhook(draft(site_id)) for _ in range(2)]
    now = time.time()
    claim = dict(lease_seconds=30, limit=10, include_scheduled=False)
    await store.claim_due_webhooks("worker-a", now=now, **claim)
    # worker-a's lease on both ran out; worker-b took them over.
    await store.claim_due_webhooks("worker-b", now=now + 31, **claim)
    late = WebhookAttempt(1, now, 200, None, 4.0)
    await store.record_webhook_attempts(
        "worker-a",
        [
            AttemptOutcome(mine.delivery_id, late, True),
            AttemptOutcome(theirs.delivery_id, late, True),
        ],
    )
    for delivery in (mine, theirs):
        kept = await store.get_webhook_delivery(delivery.delivery_id)
        assert (kept.status, kept.attempts, kept.delivered_at) == ("pending", 0, None)
        assert kept.attempt_log == (late,)
    await store.record_webhook_attempts(
        "worker-b",
        [AttemptOutcome(theirs.delivery_id, WebhookAttempt(2, now, 200, None, 1.0), True)],
    )
    assert (await store.get_webhook_delivery(theirs.delivery_id)).status == "delivered"
    assert await store.count_pending_webhooks() == 1
    await store.record_webhook_attempts("worker-b", [])


async def test_list_deliveries_newest_first_with_their_attempt_log(
    store: Store, site_id: str
) -> None:
    first = await store.enqueue_webhook(draft(site_id, "credits_updated"))
    second = await store.enqueue_webhook(draft(site_id, "site_disabled"))
    await store.enqueue_webhook(draft((await store.create_site(new_site())).site_id))
    for number in (1, 2):
        await store.claim_due_webhooks(
            "w", now=time.time(), lease_seconds=30, limit=10, include_scheduled=True
        )
        await store.record_webhook_attempts(
            "w",
            [
                AttemptOutcome(
                    first.delivery_id,
                    WebhookAttempt(number, 1000.0 + number, 500, "boom", 1.0),
                    False,
                    time.time() - 1,
                )
            ],
        )
    listed = await store.list_webhook_deliveries(site_id)
    assert [d.delivery_id for d in listed] == [second.delivery_id, first.delivery_id]
    assert [a.attempt for a in listed[1].attempt_log] == [1, 2]
    assert listed[0].attempt_log == ()
    assert [d.event for d in await store.list_webhook_deliveries(site_id, limit=1, offset=1)] == [
        "credits_updated"
    ]


async def test_retry_makes_a_failed_delivery_pending_and_due(store: Store, site_id: str) -> None:
    delivery = await store.enqueue_webhook(draft(site_id))
    await store.claim_due_webhooks(
        "w", now=time.time(), lease_seconds=30, limit=1, include_scheduled=False
    )
    await store.record_webhook_attempts(
        "w",
        [
            AttemptOutcome(
                delivery.delivery_id, WebhookAttempt(1, time.time(), 410, "gone", 3.0), False, None
            )
        ],
    )
    assert await store.count_pending_webhooks() == 0
    now = time.time()
    retried = await store.retry_webhook_delivery(delivery.delivery_id, now=now)
    assert retried is not None
    assert (retried.status, retried.next_attempt_at) == ("pending", now)
    assert len(retried.attempt_log) == 1
    assert await store.count_pending_webhooks() == 1
    assert await store.retry_webhook_delivery("whd_missing", now=now) is None
