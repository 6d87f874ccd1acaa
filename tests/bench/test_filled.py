"""The filled scenario's parts (`bench/filled.py`): the rows it writes make a consistent store,
and its table. Nothing here is timed."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import filled
from bench.cli import parse_args
from service.store import SQLiteStore


@given(users=st.integers(1, 30), extra=st.integers(0, 100))
def test_ledger_rows_end_at_the_final_balances(users: int, extra: int) -> None:
    rows = list(filled.ledger_rows(users, users + extra))
    assert len(rows) == users + extra
    last: dict[str, int] = {}
    sums: Counter[str] = Counter()
    for _txn, _site, user, _type, delta, after, kind, *_ in rows:
        sums[user] += delta
        assert after == sums[user]  # each entry's balance_after is its user's running sum
        assert (kind == "purchase") == (user not in last)
        last[user] = after
    assert last == filled.final_balances(users, users + extra)
    assert len({r[0] for r in rows}) == len({r[7] for r in rows}) == len(rows)  # unique keys


def test_ledger_rows_want_a_purchase_per_user() -> None:
    with pytest.raises(ValueError):
        list(filled.ledger_rows(5, 4))


def test_a_filled_store_reconciles_and_its_totals_match(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "filled.sqlite3"
        await filled.fill(path, users=7, rows=50)
        store = SQLiteStore(path)
        await store.open()
        try:
            report = await store.reconcile()
            assert report.ok and report.balances_checked == 7 * 3
            stats = await store.stats()
            assert stats["users"] == 7
            assert stats["credits_spent"]["article"] == 50 - 7
            assert await store.count_ledger_entries() == {"purchase": 7, "deduction": 43}
            rng = random.Random(1)
            ops = filled.operations(store, 7, rng)
            assert set(ops) == set(filled.CALLS)
            assert (await ops["deduct"]()).ok
        finally:
            await store.close()

    asyncio.run(scenario())


def test_the_table_shows_filled_over_empty() -> None:
    rows = filled.rows_of(
        {"stats": {"empty": [0.002, 0.001, 0.003], "filled": [0.004, 0.002, 0.006]}}
    )
    assert [(r.operation, r.empty_ms, r.filled_ms, r.ratio) for r in rows] == [
        ("stats", 2.0, 4.0, 2.0)
    ]
    table = filled.format_rows(rows, 1_000_000)
    assert "1,000,000 rows" in table and "2.00" in table


def test_the_bench_takes_ledger_rows() -> None:
    args = parse_args(["--ledger-rows", "1000000"])
    assert (args.ledger_rows, args.filled_users) == (1_000_000, 20_000)
    assert parse_args([]).ledger_rows == 0  # skipped unless asked
    with pytest.raises(SystemExit):
        parse_args(["--ledger-rows", "10", "--filled-users", "20"])
    assert filled.parse_args(["--ledger-rows", "100", "--users", "10"]).only == tuple(filled.CALLS)
    with pytest.raises(SystemExit):
        filled.parse_args(["--only", "nonsense"])
