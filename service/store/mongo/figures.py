"""Figures on MongoDB: stats and ledger counts from the running totals, their backfill, and
`reconcile`.

Invariant: the running totals always equal what `scan_totals` computes from the ledger and the
purchases; they are filled from it once per database (`_backfill_totals`), then every write
moves them in its own transaction.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ...domain.models import ReconcileReport
from ..base import Totals, entries_from_totals, figures_from_totals
from ..money_plan import ReversedGrant, fold_reversals, net_revenue
from .connection import Doc, MongoConnection, Session
from .documents import OLDEST_FIRST, PENDING
from .schema import CHECKOUT_SESSIONS

#: Values per `$in` query: one list of every reversed grant would outgrow a command's 16 MB.
IN_BATCH = 1000


#: Users per page of `reconcile`: one snapshot read each.
RECONCILE_PAGE = 500


async def _group(
    db: AsyncDatabase, collection: str, match: Doc, key: Any, value: Any, s: Session = None
) -> dict[Any, int]:
    """{key: sum(value)} over the documents matching `match`."""
    pipeline = [{"$match": match}, {"$group": {"_id": key, "total": {"$sum": value}}}]
    cursor = await db[collection].aggregate(pipeline, session=s)
    return {row["_id"]: int(row["total"]) async for row in cursor}


def _after_user(key: tuple[str, str]) -> Doc:
    """The documents of users after `key` (site_id, user_id), in that order."""
    site_id, user_id = key
    return {
        "$or": [{"site_id": {"$gt": site_id}}, {"site_id": site_id, "user_id": {"$gt": user_id}}]
    }


class MongoFigures(MongoConnection):
    """The figures of `Store`."""

    async def reconcile(self) -> ReconcileReport:
        """Every balance against its ledger sum, a page of users at a time, each page in a
        snapshot session of its own (a user's balance and ledger read together; no snapshot
        has to outlive the server's history window, however large the ledger)."""
        assert self._client is not None, "store is not open"
        pending: dict[tuple[str, str, str], list[str]] = {}
        async for d in self.db.ledger.find({"state": PENDING}):
            key = (d["site_id"], d["user_id"], d["credit_type"])
            pending.setdefault(key, []).append(d["source_ref"])
        checked, differences = 0, []
        after: tuple[str, str] | None = None
        while True:
            async with self._client.start_session(snapshot=True) as session:
                count, found, after = await self._reconcile_page(session, after, pending)
            checked += count
            differences += found
            if after is None:
                return ReconcileReport(checked, differences)

    async def _reconcile_page(
        self,
        s: Session,
        after: tuple[str, str] | None,
        pending: dict[tuple[str, str, str], list[str]],
    ) -> tuple[int, list[dict[str, Any]], tuple[str, str] | None]:
        """As SQLite's: the users after `after`, RECONCILE_PAGE of them (the last page
        open-ended, so ledger entries of a user without balances are found too)."""
        low: Doc = _after_user(after) if after else {}
        docs = (
            await self.db.balances.find(low, session=s)
            .sort([("site_id", 1), ("user_id", 1)])
            .limit(RECONCILE_PAGE)
            .to_list()
        )
        last = (docs[-1]["site_id"], docs[-1]["user_id"]) if len(docs) == RECONCILE_PAGE else None
        match = {"$and": [low, {"$nor": [_after_user(last)]}]} if last else low
        balances = {
            (d["site_id"], d["user_id"], t): int(b)
            for d in await self.db.balances.find(match, session=s).to_list()
            for t, b in (d.get("credits") or {}).items()
        }
        group = {"_id": {"s": "$site_id", "u": "$user_id", "t": "$credit_type"}}
        sums = {
            (r["_id"]["s"], r["_id"]["u"], r["_id"]["t"]): int(r["total"])
            async for r in await self.db.ledger.aggregate(
                [{"$match": match}, {"$group": {**group, "total": {"$sum": "$delta"}}}],
                session=s,
            )
        }
        differences = []
        for key in sorted(balances.keys() | sums.keys()):
            balance, total = balances.get(key, 0), sums.get(key, 0)
            if balance != total:
                site_id, user_id, credit_type = key
                row: dict[str, Any] = {
                    "site_id": site_id,
                    "user_id": user_id,
                    "credit_type": credit_type,
                    "balance": balance,
                    "ledger_sum": total,
                }
                if key in pending:
                    row["pending_refs"] = pending[key]
                differences.append(row)
        return len(balances), differences, last

    async def count_ledger_entries(self) -> dict[str, int]:
        return entries_from_totals(await self._totals())

    async def _totals(self, s: Session = None) -> Totals:
        totals: Totals = {}
        async for doc in self.db.totals.find({"metric": {"$exists": True}}, session=s):
            key = (doc["metric"], doc["key"])
            totals[key] = totals.get(key, 0) + int(doc["value"])
        return totals

    async def scan_totals(self, s: Session = None) -> Totals:
        """The running totals as a scan of the ledger and the purchases computes them: what
        the backfill starts from, and what the totals must always equal."""
        db = self.db
        group = {"_id": {"k": "$kind", "t": "$credit_type"}, "sum": {"$sum": "$delta"}}
        totals: Totals = {}
        cursor = await db.ledger.aggregate([{"$group": {**group, "count": {"$sum": 1}}}], session=s)
        async for row in cursor:
            kind, credit_type = row["_id"]["k"], row["_id"]["t"]
            totals[("credits", f"{kind}:{credit_type}")] = int(row["sum"])
            totals[("entries", kind)] = totals.get(("entries", kind), 0) + int(row["count"])
        gross: dict[str, int] = {}
        for collection in (CHECKOUT_SESSIONS, "payment_intents"):
            sums = await _group(
                db, collection, {"status": "completed"}, {"$toUpper": "$currency"}, "$amount", s
            )
            for currency, total in sums.items():
                gross[currency] = gross.get(currency, 0) + total
        for currency, value in net_revenue(gross, await self._reversed_grants(s)).items():
            totals[("revenue", currency)] = value
        return totals

    async def _backfill_totals(self) -> None:
        """Fill the running totals from a scan, once per database (a `scanned` marker): in one
        transaction that also clears what writes before it left, so no write is counted
        twice or missed (a write racing it conflicts, and one of them runs again)."""
        if await self.db.totals.find_one({"_id": "scanned"}):
            return

        async def backfill(s: AsyncClientSession) -> None:
            if await self.db.totals.find_one({"_id": "scanned"}, session=s):
                return
            totals = await self.scan_totals(s)
            await self.db.totals.delete_many({}, session=s)
            docs = [
                {"_id": f"{metric}|{key}|0", "metric": metric, "key": key, "value": value}
                for (metric, key), value in totals.items()
            ]
            await self.db.totals.insert_many([*docs, {"_id": "scanned"}], session=s)

        try:
            # A whole-ledger scan: bounded like the schema work, not like one request.
            await self._transaction(backfill, limit_ms=self.index_build_timeout_ms)
        except DuplicateKeyError:
            pass  # another worker backfilled at the same moment

    async def stats(self) -> dict[str, Any]:
        db = self.db
        sites = await _group(db, "sites", {}, "$status", 1)
        webhooks = await _group(db, "webhook_outbox", {}, "$status", 1)
        return {
            "sites": {
                "total": sum(sites.values()),
                "active": sites.get("active", 0),
                "disabled": sites.get("disabled", 0),
            },
            "users": await db.users.count_documents({}),
            **figures_from_totals(await self._totals()),
            "webhooks": webhooks,
        }

    async def _reversed_grants(self, s: Session = None) -> list[ReversedGrant]:
        entries = self.db.ledger.find(
            {"kind": {"$in": ["reversal", "restore"]}},
            {"parent_ref": 1, "delta": 1, "meta": 1},
            session=s,
        ).sort(OLDEST_FIRST)
        taken = fold_reversals(
            [(d["parent_ref"], int(d["delta"]), d.get("meta") or {}) async for d in entries]
        )
        refs = list(taken)
        found: list[ReversedGrant] = []
        for start in range(0, len(refs), IN_BATCH):
            grants = self.db.ledger.find(
                {"source_ref": {"$in": refs[start : start + IN_BATCH]}},
                {"source_ref": 1, "delta": 1, "meta": 1},
                session=s,
            )
            found += [
                ReversedGrant(g.get("meta") or {}, int(g["delta"]), *taken[g["source_ref"]])
                async for g in grants
            ]
        return found
