"""A store that does not answer answers 503 `store_unavailable` with `Retry-After`, in the
envelope, logged once with the request id, never a 500, never a partial write.

On SQLite the real adapter path fails as an outage would: another connection holds the
database's write lock past the (shortened) busy timeout, or the store is closed under the
app. On MongoDB the adapter runs over the mongomock shim (`tests/store/mongomock_async.py`:
it checks what the adapter sends and injects pymongo's errors, it is NOT MongoDB): a
transaction that times out changes nothing; a commit whose outcome stays unknown answers
503 saying so, and a retry with the same Idempotency-Key applies the change once.
"""

from __future__ import annotations

import logging
import sqlite3

import pytest

from service.errors import STORE_RETRY_AFTER
from service.http.contract import Contract
from tests.support.service import RunningService

FREE_ARTICLES = 5


def deduction(amount: int = 2) -> dict:
    return {
        "user_id": 1,
        "user_email": "editor@example.com",
        "site_url": "http://127.0.0.1:9",
        "credit_type": "article",
        "amount": amount,
    }


def assert_unavailable(response, *, outcome_unknown: bool = False) -> dict:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["success"] is False and body["error"] == "store_unavailable"
    assert int(response.headers["Retry-After"]) == STORE_RETRY_AFTER >= 1
    assert ("outcome is unknown" in body["message"]) is outcome_unknown
    assert ("same Idempotency-Key" in body["message"]) is outcome_unknown
    return body


def adapter(service: RunningService):
    """The adapter under the site cache."""
    return getattr(service.store, "inner", service.store)


async def article_credits(site) -> int:
    return (await site.credits(1))["article_credits"]


async def deductions(site) -> list:
    entries = await site.service.store.list_ledger(site_id=site.site_id, limit=500)
    return [e for e in entries if e.delta < 0]


# ---------------------------------------------------------------- SQLite
async def test_a_write_lock_held_past_the_busy_timeout_answers_503_and_writes_nothing(site, caplog):
    assert await article_credits(site) == FREE_ARTICLES
    store = adapter(site.service)
    # The production busy timeout is 30 s; the lock is held past a shortened one instead.
    await store.writer.call(lambda: store._db.execute("PRAGMA busy_timeout=20"))
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with caplog.at_level(logging.WARNING, logger="rakubun"):
            response = await site.post(
                "/users/deduct-credits",
                json=deduction(),
                headers={"Idempotency-Key": "locked-1", "X-Request-ID": "req-locked-1"},
            )
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    body = assert_unavailable(response)
    assert str(store.path) not in response.text and "sqlite" not in body["message"].lower()
    lines = [r.getMessage() for r in caplog.records if "store unavailable" in r.getMessage()]
    assert len(lines) == 1 and "req-locked-1" in lines[0] and str(store.path) not in lines[0]
    assert await deductions(site) == []
    assert await article_credits(site) == FREE_ARTICLES
    assert (await site.service.store.reconcile()).ok
    again = await site.post(
        "/users/deduct-credits", json=deduction(), headers={"Idempotency-Key": "locked-1"}
    )
    assert again.status_code == 200, again.text
    assert await article_credits(site) == FREE_ARTICLES - 2


async def test_a_store_closed_under_the_app_answers_503(site):
    await site.credits(1)
    await adapter(site.service).close()
    response = await site.post(
        "/users/deduct-credits", json=deduction(), headers={"Idempotency-Key": "closed-1"}
    )
    assert_unavailable(response)
    admin = await site.service.http.get(
        f"{site.service.url}/api/v1/admin/ledger", headers=site.service.admin_headers()
    )
    assert_unavailable(admin)


def request_for(method: str, path: str) -> tuple[str, str]:
    """The operation's path with every parameter filled in."""
    filled = path
    while "{" in filled:
        start, end = filled.index("{"), filled.index("}")
        filled = filled[:start] + "x" + filled[end + 1 :]
    return method, filled


OPERATIONS = sorted(
    (op.operation_id, op.method, op.path, op.security) for op in Contract.load().operations.values()
)


@pytest.mark.parametrize(("operation", "method", "path", "security"), OPERATIONS)
async def test_no_operation_answers_500_when_the_store_is_closed(
    make_service, operation, method, path, security
):
    """Every operation, with the store closed under it, answers a documented status: 503
    `store_unavailable` where it reached the store, else its own answer; never a 500
    `internal_error` (nor an undocumented answer, which VALIDATE_RESPONSES turns into one)."""
    service = await make_service()
    site = await service.register()
    await site.credits(1)
    await adapter(service).close()
    headers = {"Content-Type": "application/json"}
    if security == "plugin":
        headers |= site.headers()
    elif security == "admin":
        headers |= service.admin_headers()
    method, target = request_for(method, path)
    response = await service.http.request(
        method, f"{service.url}{target}", content=b"{}", headers=headers
    )
    spec = Contract.load().spec["paths"][path][method.lower()]["responses"]
    assert str(response.status_code) in spec, f"{operation}: {response.status_code} {response.text}"
    # Another documented 5xx (a webhook without Stripe: 500 payment_not_configured) stands.
    if response.status_code >= 400:
        assert response.json()["error"] not in ("internal_error", "response_contract_violation")
    if response.status_code == 503:
        assert response.json()["error"] == "store_unavailable", response.text
        assert int(response.headers["Retry-After"]) >= 1


# ---------------------------------------------------------------- MongoDB over the shim
@pytest.fixture
def shim():
    pytest.importorskip("mongomock", reason="mongomock not installed")
    from tests.store.mongomock_async import ShimServer

    return ShimServer()


@pytest.fixture
async def mongo_site(make_service, shim):
    from service.store.mongo import MongoStore
    from tests.store.mongomock_async import AsyncMongoClient

    store = MongoStore(
        "mongodb://mongomock.invalid/?replicaSet=rs0",
        database="rakubun_test",
        client=AsyncMongoClient(shim),  # type: ignore[arg-type]
    )
    service = await make_service(store=store)
    site = await service.register()
    assert await article_credits(site) == FREE_ARTICLES
    return site


async def test_a_deduction_whose_transaction_times_out_answers_503_and_changes_nothing(
    mongo_site, shim
):
    from tests.store.mongomock_async import operation_timeout

    shim.fail_operation("insert_one", "ledger", operation_timeout())
    response = await mongo_site.post(
        "/users/deduct-credits", json=deduction(), headers={"Idempotency-Key": "slow-1"}
    )
    body = assert_unavailable(response)
    assert "mongomock.invalid" not in response.text and "mongodb" not in body["message"].lower()
    assert await deductions(mongo_site) == []
    assert await article_credits(mongo_site) == FREE_ARTICLES
    assert (await mongo_site.service.store.reconcile()).ok


@pytest.mark.parametrize("landed", [False, True])
async def test_a_deduction_whose_commit_outcome_stays_unknown_says_so_and_a_retry_is_safe(
    mongo_site, shim, landed
):
    from tests.store.mongomock_async import unknown_commit_error

    store = adapter(mongo_site.service)

    async def ledger_unreadable() -> None:
        # Reading the entry back fails too: the adapter cannot settle the outcome.
        shim.fail_operation("find_one", "ledger", unknown_commit_error())

    shim.fail_commit(unknown_commit_error(), landed=landed, meanwhile=ledger_unreadable)
    response = await mongo_site.post(
        "/users/deduct-credits", json=deduction(), headers={"Idempotency-Key": "unknown-1"}
    )
    assert_unavailable(response, outcome_unknown=True)
    assert store is adapter(mongo_site.service)

    again = await mongo_site.post(
        "/users/deduct-credits", json=deduction(), headers={"Idempotency-Key": "unknown-1"}
    )
    assert again.status_code == 200, again.text
    assert len(await deductions(mongo_site)) == 1
    assert await article_credits(mongo_site) == FREE_ARTICLES - 2
    assert (await mongo_site.service.store.reconcile()).ok
