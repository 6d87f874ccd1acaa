"""SQLite with several worker processes on one file, as Sanic runs it with workers > 1."""

from __future__ import annotations

from pathlib import Path

from service.store import SQLiteStore

from .builders import new_site
from .workers import start_worker

PROCESSES, DEDUCTS_EACH, CREDITS = 4, 40, 100


async def test_deducts_from_several_processes_succeed_exactly_as_often_as_credits_allow(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.sqlite3"
    store = SQLiteStore(path)
    await store.open()
    site = await store.create_site(new_site())
    await store.grant_once(site.site_id, "42", "article", CREDITS, "checkout:cs_shared")

    workers = [
        start_worker("deduct_worker.py", str(path), site.site_id, "42", str(DEDUCTS_EACH))
        for _ in range(PROCESSES)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
        for worker in workers:  # all start together
            worker.stdin.write("go\n")
            worker.stdin.flush()
        successes = []
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
            successes.append(int(out.split()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    assert sum(successes) == CREDITS
    assert len([s for s in successes if s]) > 1, "one process took every credit: no contention"
    user = await store.get_user(site.site_id, "42")
    assert user is not None and user.balances.article == 0
    deductions = [
        e
        for e in await store.list_ledger(site_id=site.site_id, limit=1000)
        if e.kind == "deduction"
    ]
    assert len(deductions) == CREDITS
    assert (await store.reconcile()).ok
    await store.close()
