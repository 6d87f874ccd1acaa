"""SQLite crash drill: SIGKILL a process in the middle of a stream of grants and deductions.

Every operation the worker acknowledged (printed after its await returned) must be in the
ledger after a restart, none twice, balances must equal ledger sums, each change must
have its plugin webhook enqueued with it, and the file must pass `PRAGMA integrity_check`.
Three kill-and-restart rounds on the same file.
"""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from service.store import SQLiteStore

from .workers import start_worker

ACKNOWLEDGED_BEFORE_KILL = 200
ROUNDS = 3


def run_until_acknowledged(path: Path, tag: str, site_id: str) -> list[list[str]]:
    """Start the worker, read acknowledgements until there are enough, SIGKILL it at once."""
    worker = start_worker("crash_worker.py", str(path), tag, site_id, "42")
    acknowledged: list[list[str]] = []
    try:
        while len(acknowledged) < ACKNOWLEDGED_BEFORE_KILL:
            line = worker.stdout.readline()
            assert line, f"worker ended early: {worker.stderr.read()}"
            acknowledged.append(line.split())
        worker.send_signal(signal.SIGKILL)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait()
        for pipe in (worker.stdin, worker.stdout, worker.stderr):
            pipe.close()
    assert worker.returncode == -signal.SIGKILL
    return acknowledged


def integrity(path: Path) -> str:
    raw = sqlite3.connect(path)
    try:
        return raw.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        raw.close()


def drill_rows(path: Path) -> tuple[list[str], int]:
    """Every drill source_ref in the ledger (duplicates kept) and the outbox's row count."""
    raw = sqlite3.connect(path)
    try:
        refs = [
            r
            for (r,) in raw.execute(
                "SELECT source_ref FROM ledger WHERE source_ref LIKE '%drill:%'"
            )
        ]
        (webhooks,) = raw.execute("SELECT COUNT(*) FROM webhook_outbox").fetchone()
        return refs, webhooks
    finally:
        raw.close()


async def test_sigkill_mid_stream_loses_no_acknowledged_operation_and_doubles_none(
    sqlite_site: tuple[SQLiteStore, str],
) -> None:
    setup, site_id = sqlite_site
    path = setup.path
    await setup.close()

    for round_number in range(1, ROUNDS + 1):
        acknowledged = run_until_acknowledged(path, f"round{round_number}", site_id)

        assert integrity(path) == "ok"
        store = SQLiteStore(path)
        await store.open()
        try:
            for kind, ref, *rest in acknowledged:
                entry = await store.get_ledger_entry(ref)
                if kind == "deduct" and rest[0] == "0":
                    assert entry is None, f"refused deduction {ref} left an entry"
                    continue
                assert entry is not None, f"acknowledged {kind} {ref} is lost"
                assert entry.transaction_id == rest[-1]

            refs, webhooks = drill_rows(path)
            assert len(refs) == len(set(refs)), "an operation was applied twice"
            assert webhooks == len(refs), "a change and its webhook were not enqueued together"
            report = await store.reconcile()
            assert report.ok, report.differences

            # Replaying acknowledged operations after the restart changes nothing.
            before = (await store.get_user(site_id, "42")).balances
            grant_ref = next(ref for kind, ref, *_ in acknowledged if kind == "grant")
            again = await store.grant_once(site_id, "42", "article", 3, grant_ref)
            assert not again.applied
            key = next(
                ref
                for kind, ref, ok, _ in (a for a in acknowledged if a[0] == "deduct")
                if ok == "1"
            ).removeprefix(f"deduct:{site_id}:42:")
            assert (await store.deduct(site_id, "42", "article", 1, idempotency_key=key)).replayed
            assert (await store.get_user(site_id, "42")).balances == before
        finally:
            await store.close()
