"""Reconcile reads a page of users at a time, each page a short read of its own, and
finds every difference whatever the page boundaries: tampered balances, and ledger entries
of users without balances before, between and after the pages. On SQLite, and on MongoStore
over the mongomock shim (NOT MongoDB: see `mongomock_async.py`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from service.domain.models import ReconcileReport
from service.store import SQLiteStore
from service.store.sqlite import figures as sqlite_figures

from .builders import new_site


def orphan_entry(raw: sqlite3.Connection, site_id: str, user_id: str, delta: int) -> None:
    """A ledger entry whose user has no balance rows, as a stray INSERT would leave."""
    raw.execute(
        "INSERT INTO ledger (transaction_id, site_id, user_id, credit_type, delta,"
        " balance_after, kind, source_ref, meta, created_at)"
        " VALUES (?, ?, ?, 'article', ?, ?, 'adjustment', ?, '{}', '2026-01-01T00:00:00Z')",
        (f"txn_{site_id}{user_id}", site_id, user_id, delta, delta, f"stray:{site_id}:{user_id}"),
    )


def assert_every_difference_found(report: ReconcileReport) -> None:
    """The differences both tests plant: the tampered balance of user 5 and four ledger
    entries without balances (before, between and after the users, and on another site)."""
    assert report.balances_checked == 5 * 3
    assert sorted(
        (d["site_id"], d["user_id"], d["balance"], d["ledger_sum"]) for d in report.differences
    ) == [
        ("site_a", "1", 0, 3),
        ("site_m", "0", 0, 2),
        ("site_m", "4", 0, 2),
        ("site_m", "5", 9, 4),
        ("site_m", "99", 0, 2),
    ]


@pytest.mark.parametrize("page", [1, 2, 3, 500])
async def test_reconcile_in_pages_finds_every_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    monkeypatch.setattr(sqlite_figures, "RECONCILE_PAGE", page)
    path = tmp_path / "rakubun.sqlite3"
    store = SQLiteStore(path)
    await store.open()
    try:
        site_id = (await store.create_site(new_site(site_id="site_m"))).site_id
        for user in "13579":
            await store.grant_once(site_id, user, "image", 4, f"g:{user}")
        with sqlite3.connect(path) as raw:
            raw.execute(
                "UPDATE balances SET balance = 9 WHERE user_id = '5' AND credit_type = 'image'"
            )
            for user in ("0", "4", "99"):  # before, between and after the users
                orphan_entry(raw, site_id, user, 2)
            orphan_entry(raw, "site_a", "1", 3)  # another site, sorting first
        raw.close()
        pages: list[object] = []
        read_page = store._reconcile_page
        monkeypatch.setattr(store, "_reconcile_page", lambda *a: pages.append(a) or read_page(*a))
        report = await store.reconcile()
        assert_every_difference_found(report)
        assert len(pages) == 5 // page + 1  # one read per page, the last one open-ended
    finally:
        await store.close()


@pytest.mark.parametrize("page", [1, 2, 500])
async def test_mongodb_reconcile_in_pages_finds_every_difference(
    monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    pytest.importorskip("mongomock", reason="mongomock not installed")
    from service.store.mongo import figures as mongo_figures

    from .conftest import MongomockBackend

    monkeypatch.setattr(mongo_figures, "RECONCILE_PAGE", page)
    backend = MongomockBackend()
    store = backend.make()
    await store.open()
    try:
        site_id = (await store.create_site(new_site(site_id="site_m"))).site_id
        for user in "13579":
            await store.grant_once(site_id, user, "image", 4, f"g:{user}")
        backend.tamper_balance(site_id, "5", "image", 9)
        ledger = backend.raw[backend.database].ledger
        for site, user, delta in (
            ("site_m", "0", 2),
            ("site_m", "4", 2),
            ("site_m", "99", 2),
            ("site_a", "1", 3),
        ):
            ledger.insert_one(
                {
                    "source_ref": f"stray:{site}:{user}",
                    "transaction_id": f"txn_{site}{user}",
                    "site_id": site,
                    "user_id": user,
                    "credit_type": "article",
                    "delta": delta,
                    "kind": "adjustment",
                }  # fmt: skip
            )
        report = await store.reconcile()
        assert_every_difference_found(report)
    finally:
        await store.close()
