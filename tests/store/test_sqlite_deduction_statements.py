"""What a deduction costs the SQLite writer, statement by statement: the plugin's deductions
carry no idempotency key, so their source_ref is new and never looked up; the user is ensured
and its balances read in one statement; each ledger entry moves the totals in one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from service.domain.models import UserSeed
from service.store import SQLiteStore
from service.store.sqlite.ledger import add_totals

SITE = "site_statements"
SEED = UserSeed("u1@example.test", {"article": 5})


async def writer_statements(store: SQLiteStore, **deduction: object) -> list[str]:
    statements: list[str] = []
    await store.writer.call(lambda: store._db.set_trace_callback(statements.append))  # type: ignore[union-attr]
    try:
        result = await store.deduct(SITE, "u1", "article", 1, ensure=SEED, **deduction)  # type: ignore[arg-type]
    finally:
        await store.writer.call(lambda: store._db.set_trace_callback(None))  # type: ignore[union-attr]
    assert result.ok
    return [" ".join(s.split()) for s in statements]


async def test_a_keyless_deduction_of_a_known_user_is_four_writes_and_one_read(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    await store.open()
    try:
        await store.ensure_user(SITE, "u1", SEED.email, SEED.free_credits)
        statements = await writer_statements(store)
        inside = statements[statements.index("BEGIN IMMEDIATE") + 1 : statements.index("COMMIT")]
        assert [s.split()[0] for s in inside] == ["SELECT", "INSERT", "INSERT", "INSERT"]
        assert "FROM users u LEFT JOIN balances" in inside[0]
        assert [s.split()[2] for s in inside[1:]] == ["balances", "totals", "ledger"]
        assert (await store.get_user(SITE, "u1")).balances.article == 4  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_a_keyed_deduction_looks_its_key_up_and_a_retry_replays(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    await store.open()
    try:
        first = await writer_statements(store, idempotency_key="k1")
        assert any("FROM ledger WHERE source_ref=" in s for s in first)
        again = await store.deduct(SITE, "u1", "article", 1, idempotency_key="k1", ensure=SEED)
        assert again.replayed and again.balances.article == 4
    finally:
        await store.close()


def test_totals_repeated_in_one_statement_add_up(tmp_path: Path) -> None:
    c = sqlite3.connect(tmp_path / "t.sqlite3")
    c.execute(
        "CREATE TABLE totals (metric TEXT, key TEXT, value INTEGER, PRIMARY KEY (metric, key))"
    )
    add_totals(c, [("credits", "deduction:article", -1), ("entries", "deduction", 1)])
    add_totals(c, [("entries", "deduction", 1), ("entries", "deduction", 2)])
    add_totals(c, [])
    assert dict(((m, k), v) for m, k, v in c.execute("SELECT * FROM totals")) == {
        ("credits", "deduction:article"): -1,
        ("entries", "deduction"): 4,
    }
