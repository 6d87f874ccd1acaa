"""Money on a real MongoDB when the server itself fails a command: fail points.

The server is made to fail our commands with `configureFailPoint failCommand` (a test
command: mongod must run with `--setParameter enableTestCommands=1`, as the hosted
`e2e-mongo` job and the Docker fixture in conftest.py start it). Each case runs at the
production settings (MongoStore's defaults, MONGODB_TIMEOUT_MS 10 s) and checks that money
moved once or not at all:

- a transient error (WriteConflict) in the middle of a transaction: retried, applied once;
- an unknown commit result, the commit not landed: the commit is retried, applied once;
- an unknown commit result after the commit landed, until the deadline: the answer is what
  committed (re-read by source_ref), applied once;
- MaxTimeMSExpired: an error that says it is a timeout (a StoreError, or pymongo's own
  with `.timeout` set), and nothing changed.

Only on a real server (MONGODB_URL, or Docker through testcontainers): the mongomock shim
has no fail points. Skipped, with one line saying why, without a server or without test
commands.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure, PyMongoError

from service.store import StoreError
from service.store.mongo import MongoStore

from .builders import new_site

pytestmark = pytest.mark.mongo

#: The application name MongoStore's client sends: fail points only ever hit its commands.
APP_NAME = "rakubun-dashboard"
NO_TEST_COMMANDS = (
    "MongoDB without test commands (configureFailPoint): start mongod with"
    " --setParameter enableTestCommands=1"
)
COMMAND_NOT_FOUND = 59


class FailPoints:
    """`failCommand` on the server, aimed at MongoStore's own client (its appName)."""

    def __init__(self, client: AsyncMongoClient) -> None:
        self.client = client

    async def fail(self, mode: Any, commands: list[str], **data: Any) -> int:
        """Fail the next `commands` as `data` says; answers how often it fired before."""
        reply = await self.client.admin.command(
            {
                "configureFailPoint": "failCommand",
                "mode": mode,
                "data": {"failCommands": commands, "appName": APP_NAME, **data},
            }
        )
        return int(reply.get("count", 0))

    async def off(self) -> int:
        """Turn it off; answers how often it fired in all."""
        reply = await self.client.admin.command(
            {"configureFailPoint": "failCommand", "mode": "off"}
        )
        return int(reply.get("count", 0))


@pytest.fixture
async def failpoints(mongodb_url: str) -> AsyncIterator[FailPoints]:
    client: AsyncMongoClient = AsyncMongoClient(mongodb_url)
    try:
        try:
            await client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        except OperationFailure as exc:
            if exc.code == COMMAND_NOT_FOUND or "enableTestCommands" in str(exc):
                pytest.skip(NO_TEST_COMMANDS)
            raise
        points = FailPoints(client)
        yield points
        await points.off()
    finally:
        await client.close()


@pytest.fixture
async def store(mongodb_url: str) -> AsyncIterator[MongoStore]:
    """A MongoStore at the production settings, on a database of its own."""
    store = MongoStore(mongodb_url, database=f"rakubun_test_{uuid.uuid4().hex[:12]}")
    await store.open()
    try:
        yield store
    finally:
        assert store._client is not None
        await store._client.drop_database(store.database)
        await store.close()


async def ledger_of(store: MongoStore, site_id: str) -> list[str]:
    return [e.source_ref for e in await store.list_ledger(site_id=site_id, limit=100)]


async def test_a_write_conflict_mid_transaction_is_retried_and_applies_once(
    store: MongoStore, failpoints: FailPoints
) -> None:
    site = await store.create_site(new_site())
    # The ledger insert comes after the balance moved, in the same transaction.
    before = await failpoints.fail(
        {"times": 1},
        ["insert"],
        errorCode=112,
        errorLabels=["TransientTransactionError"],
    )
    result = await store.grant_once(site.site_id, "42", "article", 10, "checkout:cs_conflict")
    assert await failpoints.off() > before  # it did fail once
    assert result.applied and result.balances.of("article") == 10
    assert await ledger_of(store, site.site_id) == ["checkout:cs_conflict"]
    assert (await store.reconcile()).ok


async def test_an_unknown_commit_result_before_the_commit_landed_applies_once(
    store: MongoStore, failpoints: FailPoints
) -> None:
    site = await store.create_site(new_site())
    before = await failpoints.fail(
        {"times": 1},
        ["commitTransaction"],
        errorCode=91,  # ShutdownInProgress: the commit never ran
        errorLabels=["UnknownTransactionCommitResult"],
    )
    result = await store.grant_once(site.site_id, "42", "article", 10, "checkout:cs_unknown")
    assert await failpoints.off() > before
    assert result.balances.of("article") == 10
    assert await ledger_of(store, site.site_id) == ["checkout:cs_unknown"]
    assert (await store.reconcile()).ok


async def test_an_unknown_commit_result_after_the_commit_landed_answers_what_committed(
    store: MongoStore, failpoints: FailPoints
) -> None:
    """Every commit runs, then answers a write concern error (unknown result) until the
    transaction's deadline passes: the store re-reads the source_ref and finds its entry."""
    site = await store.create_site(new_site())
    before = await failpoints.fail(
        "alwaysOn",
        ["commitTransaction"],
        writeConcernError={"code": 64, "codeName": "WriteConcernFailed", "errmsg": "injected"},
    )
    try:
        result = await store.grant_once(site.site_id, "42", "article", 10, "checkout:cs_landed")
    finally:
        assert await failpoints.off() > before
    assert result.entry is not None and result.entry.source_ref == "checkout:cs_landed"
    assert result.balances.of("article") == 10
    assert await ledger_of(store, site.site_id) == ["checkout:cs_landed"]
    user = await store.get_user(site.site_id, "42")
    assert user is not None and user.balances.of("article") == 10
    assert (await store.reconcile()).ok


async def test_max_time_ms_expired_mid_transaction_is_a_timeout_and_changes_nothing(
    store: MongoStore, failpoints: FailPoints
) -> None:
    site = await store.create_site(new_site())
    await store.grant_once(site.site_id, "42", "article", 10, "checkout:cs_first")
    # The deduction's ledger insert, after its balance moved in the same transaction.
    before = await failpoints.fail({"times": 1}, ["insert"], errorCode=50)
    with pytest.raises((StoreError, PyMongoError)) as raised:
        await store.deduct(site.site_id, "42", "article", 3, idempotency_key="slow")
    assert isinstance(raised.value, StoreError) or raised.value.timeout
    assert await failpoints.off() > before
    assert await ledger_of(store, site.site_id) == ["checkout:cs_first"]
    user = await store.get_user(site.site_id, "42")
    assert user is not None and user.balances.of("article") == 10
    assert (await store.reconcile()).ok
