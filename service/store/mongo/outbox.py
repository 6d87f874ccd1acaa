"""The plugin webhook outbox on MongoDB: deliveries, their leases and attempts.

Invariant: each claim is a single-document compare-and-set, so two workers (or machines)
never lease the same delivery; a batch of attempts and the leases it releases commit in one
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument, UpdateMany, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from ...domain.models import AttemptOutcome, WebhookDelivery, WebhookDraft, iso_from_unix
from ..base import new_delivery
from .connection import Doc, MongoConnection
from .documents import (
    NEWEST_FIRST,
    OLDEST_FIRST,
    attempt_doc,
    delivery_doc,
    delivery_from,
)


class MongoOutbox(MongoConnection):
    """The webhook outbox of `Store`."""

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
