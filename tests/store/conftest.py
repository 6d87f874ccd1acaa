"""The backends every store test runs against.

- `sqlite`: always, a fresh file per test.
- `mongo`: a real MongoDB. MONGODB_URL when set, else a throwaway single-node replica set in
  Docker through testcontainers when a Docker engine answers, else skipped with one line
  saying why. Each test gets its own database, dropped afterwards.
- `mongomock`: MongoStore on mongomock through a strict async shim (`mongomock_async.py`),
  when mongomock is installed. NOT MongoDB: it checks the shapes of what the adapter sends,
  offline (transactions run with their sessions, every one retried once from a simulated
  transient error, validators applied); MongoDB's own semantics are checked by `mongo`, on a
  real replica set in the hosted-CI workflow and wherever MONGODB_URL or Docker exists.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from service.store import SQLiteStore, Store
from service.store.mongo import MongoStore

from .builders import new_site

NO_MONGO = "MongoDB: MONGODB_URL unset and no Docker engine"
MONGO_IMAGE = os.environ.get("MONGO_IMAGE", "mongo:7.0")


class SQLiteBackend:
    """One SQLite file; `make()` opens another store (own connection, own thread) on it."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path

    def make(self) -> Store:
        return SQLiteStore(self.path)

    def tamper_balance(self, site_id: str, user_id: str, credit_type: str, value: int) -> None:
        """Change a balance behind the store's back, as a stray UPDATE would."""
        with sqlite3.connect(self.path) as raw:
            raw.execute(
                "UPDATE balances SET balance=? WHERE site_id=? AND user_id=? AND credit_type=?",
                (value, site_id, user_id, credit_type),
            )
        raw.close()

    def analytics_rows(self, site_id: str) -> int:
        with sqlite3.connect(self.path) as raw:
            (count,) = raw.execute(
                "SELECT (SELECT COUNT(*) FROM analytics_generations WHERE site_id=?)"
                " + (SELECT COUNT(*) FROM analytics_usage WHERE site_id=?)",
                (site_id, site_id),
            ).fetchone()
        raw.close()
        return int(count)

    def attempt_rows(self, delivery_id: str) -> int:
        """Attempt records of a delivery, as stored."""
        with sqlite3.connect(self.path) as raw:
            (count,) = raw.execute(
                "SELECT COUNT(*) FROM webhook_attempts WHERE delivery_id=?", (delivery_id,)
            ).fetchone()
        raw.close()
        return int(count)

    def drop(self) -> None:
        """Nothing to do: the file lives in tmp_path."""


class MongoBackend:
    """One throwaway database on a MongoDB server."""

    name = "mongo"

    def __init__(self, url: str, database: str) -> None:
        from pymongo import MongoClient

        self.url = url
        self.database = database
        self.raw = MongoClient(url)

    def make(self) -> Store:
        # A generous operation timeout: the concurrency tests pile 200 transactions on one
        # balance, and every write conflict among them is retried.
        return MongoStore(self.url, database=self.database, timeout_ms=60_000)

    def tamper_balance(self, site_id: str, user_id: str, credit_type: str, value: int) -> None:
        self.raw[self.database].balances.update_one(
            {"site_id": site_id, "user_id": user_id}, {"$set": {f"credits.{credit_type}": value}}
        )

    def analytics_rows(self, site_id: str) -> int:
        return self.raw[self.database].analytics.count_documents({"site_id": site_id})

    def attempt_rows(self, delivery_id: str) -> int:
        return self.raw[self.database].webhook_attempts.count_documents(
            {"delivery_id": delivery_id}
        )

    def drop(self) -> None:
        self.raw.drop_database(self.database)
        self.raw.close()


class MongomockBackend(MongoBackend):
    """MongoStore on one in-memory shim server (see mongomock_async.py: not MongoDB)."""

    name = "mongomock"

    def __init__(self) -> None:
        from .mongomock_async import ShimServer

        self.url = "mongodb://mongomock.invalid/?replicaSet=rs0"
        self.database = "rakubun_test"
        self.server = ShimServer()
        self.raw = self.server.mongo

    def make(self) -> Store:
        from .mongomock_async import AsyncMongoClient

        return MongoStore(self.url, database=self.database, client=AsyncMongoClient(self.server))  # type: ignore[arg-type]


Backend = SQLiteBackend | MongoBackend | MongomockBackend


def docker_answers() -> bool:
    """A cheap probe: does a Docker engine answer a ping within a few seconds?"""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextmanager
def mongo_replica_set() -> Iterator[str]:
    """A single-node replica set in Docker (transactions need a replica set), with the
    test commands on (fail points)."""
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure, PyMongoError
    from testcontainers.core.container import DockerContainer

    container = (
        DockerContainer(MONGO_IMAGE)
        # Test commands: fail points (test_mongo_failpoints.py).
        .with_command("--replSet rs0 --bind_ip_all --setParameter enableTestCommands=1")
        .with_exposed_ports(27017)
    )
    with container:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(27017))
        client: MongoClient = MongoClient(
            host, port, directConnection=True, serverSelectionTimeoutMS=2000
        )
        deadline = time.monotonic() + 90
        initiated = False
        while True:
            try:
                if not initiated:
                    client.admin.command(
                        "replSetInitiate",
                        {"_id": "rs0", "members": [{"_id": 0, "host": "localhost:27017"}]},
                    )
                    initiated = True
                if client.admin.command("hello").get("isWritablePrimary"):
                    break
            except OperationFailure as exc:
                initiated = initiated or exc.code == 23  # AlreadyInitialized
            except PyMongoError:
                pass  # not accepting connections yet
            if time.monotonic() > deadline:
                raise RuntimeError("MongoDB replica set did not elect a primary in 90 s")
            time.sleep(0.25)
        client.close()
        yield f"mongodb://{host}:{port}/?directConnection=true"


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    url = os.environ.get("MONGODB_URL", "").strip()
    if url:
        yield url
        return
    if not docker_answers():
        pytest.skip(NO_MONGO)
    with mongo_replica_set() as container_url:
        yield container_url


@pytest.fixture(params=["sqlite", pytest.param("mongo", marks=pytest.mark.mongo), "mongomock"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield SQLiteBackend(tmp_path / "rakubun.sqlite3")
        return
    if request.param == "mongomock":
        pytest.importorskip("mongomock", reason="mongomock not installed")
        yield MongomockBackend()
        return
    url = request.getfixturevalue("mongodb_url")
    mongo = MongoBackend(url, f"rakubun_test_{uuid.uuid4().hex[:12]}")
    yield mongo
    mongo.drop()


@pytest.fixture
async def open_store(backend: Backend) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
    """Open another store on the same storage (another connection, as another worker has)."""
    opened: list[Store] = []

    async def open_one() -> Store:
        store = backend.make()
        await store.open()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: Callable[[], Awaitable[Store]]) -> Store:
    return await open_store()


@pytest.fixture
async def site_id(store: Store) -> str:
    return (await store.create_site(new_site())).site_id


@pytest.fixture
async def sqlite_site(tmp_path: Path) -> AsyncIterator[tuple[SQLiteStore, str]]:
    """A SQLite store open on a new file holding one site, for tests that start worker
    processes on that file: (the store, the site's id)."""
    store = SQLiteStore(tmp_path / "shared.sqlite3")
    await store.open()
    try:
        yield store, (await store.create_site(new_site())).site_id
    finally:
        await store.close()
