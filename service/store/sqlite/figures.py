"""Figures on SQLite: stats and ledger counts from the running totals, and `reconcile`.

Invariant: figures only read, each from one snapshot on the reader's thread; `reconcile` pages
through users so no read holds the reader long.
"""

from __future__ import annotations

from typing import Any

from ...domain.models import ReconcileReport
from ..base import Totals, entries_from_totals, figures_from_totals
from .connection import SQLiteConnection

#: Users per page of `reconcile`: one short read each.
RECONCILE_PAGE = 500


class SQLiteFigures(SQLiteConnection):
    """The figures of `Store`."""

    async def reconcile(self) -> ReconcileReport:
        """Every balance against its ledger sum, a page of users at a time: each page is one
        read (one snapshot) on the reader's thread, so a user's balance and ledger are read
        together, the writer never waits, and a request waits at most one page."""
        checked, differences = 0, []
        after: tuple[str, str] | None = None
        while True:
            count, found, after = await self._run(self._reconcile_page, after, RECONCILE_PAGE)
            checked += count
            differences += found
            if after is None:
                return ReconcileReport(checked, differences)

    def _reconcile_page(
        self, after: tuple[str, str] | None, size: int
    ) -> tuple[int, list[dict[str, Any]], tuple[str, str] | None]:
        """The balances and ledger sums of the users after `after` up to `size` users on: the
        rows checked, the differences, and the last user (None when none is left). The last
        page is open-ended, so ledger entries of a user without balances are found too."""
        low, params = ("(site_id, user_id) > (?, ?)", after) if after else ("1", ())
        users = self._read(
            f"SELECT site_id, user_id FROM users WHERE {low} ORDER BY site_id, user_id LIMIT ?",
            (*params, size),
        )
        last = tuple(users[-1]) if len(users) == size else None
        where, bounds = (
            (f"{low} AND (site_id, user_id) <= (?, ?)", (*params, *last)) if last else (low, params)
        )
        balances = {
            (s, u, t): b
            for s, u, t, b in self._read(
                f"SELECT site_id, user_id, credit_type, balance FROM balances WHERE {where}", bounds
            )
        }
        sums = {
            (s, u, t): int(total)
            for s, u, t, total in self._read(
                f"SELECT site_id, user_id, credit_type, SUM(delta) FROM ledger WHERE {where}"
                " GROUP BY site_id, user_id, credit_type",
                bounds,
            )
        }
        differences = [
            {
                "site_id": s,
                "user_id": u,
                "credit_type": t,
                "balance": balances.get((s, u, t), 0),
                "ledger_sum": sums.get((s, u, t), 0),
            }
            for s, u, t in sorted(balances.keys() | sums.keys())
            if balances.get((s, u, t), 0) != sums.get((s, u, t), 0)
        ]
        return len(balances), differences, last

    async def count_ledger_entries(self) -> dict[str, int]:
        return entries_from_totals(await self._totals())

    async def _totals(self) -> Totals:
        rows = await self._run(self._read, "SELECT metric, key, value FROM totals")
        return {(metric, key): int(value) for metric, key, value in rows}

    async def stats(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            q = self._read
            sites = dict(q("SELECT status, COUNT(*) FROM sites GROUP BY status"))
            webhooks = dict(q("SELECT status, COUNT(*) FROM webhook_outbox GROUP BY status"))
            return {
                "sites": {
                    "total": sum(sites.values()),
                    "active": sites.get("active", 0),
                    "disabled": sites.get("disabled", 0),
                },
                "users": q("SELECT COUNT(*) FROM users")[0][0],
                **figures_from_totals(
                    {(m, k): int(v) for m, k, v in q("SELECT metric, key, value FROM totals")}
                ),
                "webhooks": {k: int(v) for k, v in webhooks.items()},
            }

        return await self._run(read)
