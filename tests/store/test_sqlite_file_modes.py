"""The SQLite files hold every site's webhook secret and the provider keys: owner-only (0600)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.store import SQLiteStore

from .builders import new_site


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The common umask 022, under which files are created 0644 unless asked otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mode & 0o777 for p in directory.iterdir() if p.is_file()}


async def test_the_database_its_wal_shm_and_rate_limit_files_are_created_0600(
    tmp_path: Path, permissive_umask: None
) -> None:
    store = SQLiteStore(tmp_path / "rakubun.sqlite3", synchronous="NORMAL")
    await store.open()
    try:
        await store.create_site(new_site())
        await store.hit_rate_limit("site:x", 0)
        created = modes(tmp_path)
    finally:
        await store.close()

    assert {
        "rakubun.sqlite3",
        "rakubun.sqlite3-wal",
        "rakubun.sqlite3-shm",
        "rakubun.sqlite3.ratelimit",
        "rakubun.sqlite3.ratelimit-wal",
    } <= set(created)
    assert created == {name: 0o600 for name in created}


async def test_files_of_an_older_deployment_are_tightened_to_0600(
    tmp_path: Path, permissive_umask: None
) -> None:
    path = tmp_path / "rakubun.sqlite3"
    first = SQLiteStore(path, synchronous="NORMAL")
    await first.open()
    await first.create_site(new_site())
    await first.close()
    for file in tmp_path.iterdir():
        file.chmod(0o644)

    second = SQLiteStore(path, synchronous="NORMAL")
    await second.open()
    try:
        assert len(await second.list_sites()) == 1
        reopened = modes(tmp_path)
    finally:
        await second.close()

    assert reopened == {name: 0o600 for name in reopened}
