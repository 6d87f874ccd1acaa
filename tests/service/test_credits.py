"""A user's credits: read (get-or-create), spend atomically, and the ledger."""

from __future__ import annotations

import asyncio

from tests.support.answers import assert_error

FREE = {"article_credits": 5, "image_credits": 10, "rewrite_credits": 3}


def deduction(user_id=1, credit_type="article", amount=1, **extra):
    return {
        "user_id": user_id,
        "user_email": "editor@example.com",
        "site_url": "http://127.0.0.1:9",
        "credit_type": credit_type,
        "amount": amount,
        **extra,
    }


async def ledger(site) -> list:
    return await site.service.store.list_ledger(site_id=site.site_id, limit=500)


# ---------------------------------------------------------------- reading
async def test_a_new_user_starts_with_the_free_credits(site):
    response = await site.get(
        "/users/credits",
        params={"user_id": "12", "user_email": "editor@example.com", "site_url": "http://x"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["user_id"] == "12"
    assert body["credits"] == FREE


async def test_the_free_credits_come_from_the_settings(make_service):
    service = await make_service(
        free_article_credits=1, free_image_credits=0, free_rewrite_credits=7
    )
    site = await service.register()
    assert await site.credits(3) == {"article_credits": 1, "image_credits": 0, "rewrite_credits": 7}


async def test_the_free_grant_is_in_the_ledger_once(site):
    await site.credits(4)
    await site.credits(4)
    entries = await ledger(site)
    assert sorted((e.credit_type, e.delta, e.kind) for e in entries) == [
        ("article", 5, "free"),
        ("image", 10, "free"),
        ("rewrite", 3, "free"),
    ]
    report = await site.service.store.reconcile()
    assert report.ok


async def test_the_user_email_is_remembered(site):
    await site.get("/users/credits", params={"user_id": "5", "user_email": "five@example.com"})
    user = await site.service.store.get_user(site.site_id, "5")
    assert user.email == "five@example.com"


async def test_concurrent_first_reads_create_the_user_once(site):
    results = await asyncio.gather(*(site.credits(77) for _ in range(8)))
    assert all(r == FREE for r in results)
    assert len(await ledger(site)) == 3


# ---------------------------------------------------------------- spending
async def test_a_deduction_answers_what_the_plugin_reads(site):
    response = await site.post("/users/deduct-credits", json=deduction(amount=2))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert isinstance(body["transaction_id"], str) and body["transaction_id"]
    assert body["remaining_credits"] == {**FREE, "article_credits": 3}
    assert body["credit_type"] == "article" and body["amount"] == 2
    assert await site.credits(1) == {**FREE, "article_credits": 3}
    entry = (await ledger(site))[0]
    assert (entry.transaction_id, entry.delta, entry.kind, entry.balance_after) == (
        body["transaction_id"],
        -2,
        "deduction",
        3,
    )


async def test_a_deduction_for_a_first_seen_user_spends_from_the_free_credits(site):
    response = await site.post(
        "/users/deduct-credits", json=deduction(user_id="31", credit_type="image", amount=10)
    )
    assert response.status_code == 200, response.text
    assert response.json()["remaining_credits"] == {**FREE, "image_credits": 0}


async def test_spending_more_than_the_balance_is_402_and_changes_nothing(site):
    await site.credits(1)
    before = len(await ledger(site))
    body = assert_error(
        await site.post("/users/deduct-credits", json=deduction(credit_type="rewrite", amount=4)),
        402,
        "insufficient_credits",
    )
    assert body["remaining_credits"] == FREE
    assert await site.credits(1) == FREE
    assert len(await ledger(site)) == before


async def test_the_whole_balance_can_be_spent_and_not_one_more(site):
    ok = await site.post("/users/deduct-credits", json=deduction(credit_type="rewrite", amount=3))
    assert ok.status_code == 200
    assert ok.json()["remaining_credits"]["rewrite_credits"] == 0
    assert_error(
        await site.post("/users/deduct-credits", json=deduction(credit_type="rewrite", amount=1)),
        402,
        "insufficient_credits",
    )


async def test_concurrent_deductions_never_overspend(site):
    await site.credits(1)
    responses = await asyncio.gather(
        *(site.post("/users/deduct-credits", json=deduction(amount=1)) for _ in range(12))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [402] * 7
    assert (await site.credits(1))["article_credits"] == 0
    assert len({r.json()["transaction_id"] for r in responses if r.status_code == 200}) == 5
    assert (await site.service.store.reconcile()).ok


async def test_an_idempotency_key_makes_a_retry_deduct_once(site):
    key = {"Idempotency-Key": "gen-2025-11-06-0001"}
    first = await site.post("/users/deduct-credits", json=deduction(amount=2), headers=key)
    again = await site.post("/users/deduct-credits", json=deduction(amount=2), headers=key)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["transaction_id"] == first.json()["transaction_id"]
    assert first.json()["replayed"] is False and again.json()["replayed"] is True
    assert again.json()["remaining_credits"]["article_credits"] == 3
    assert (await site.credits(1))["article_credits"] == 3
    deductions = [e for e in await ledger(site) if e.kind == "deduction"]
    assert len(deductions) == 1


async def test_concurrent_retries_with_one_idempotency_key_deduct_once(site):
    key = {"Idempotency-Key": "retry-storm"}
    responses = await asyncio.gather(
        *(
            site.post("/users/deduct-credits", json=deduction(amount=1), headers=key)
            for _ in range(6)
        )
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["transaction_id"] for r in responses}) == 1
    assert (await site.credits(1))["article_credits"] == 4


async def test_without_a_key_each_call_deducts(site):
    for _ in range(2):
        assert (await site.post("/users/deduct-credits", json=deduction())).status_code == 200
    assert (await site.credits(1))["article_credits"] == 3


async def test_the_same_idempotency_key_on_two_sites_deducts_on_both(service, site):
    other = await service.register()
    key = {"Idempotency-Key": "shared-key"}
    a = await site.post("/users/deduct-credits", json=deduction(), headers=key)
    b = await other.post("/users/deduct-credits", json=deduction(), headers=key)
    assert a.status_code == b.status_code == 200
    assert a.json()["transaction_id"] != b.json()["transaction_id"]
    assert (await other.credits(1))["article_credits"] == 4


BAD_DEDUCTIONS = [
    {"credit_type": "video"},
    {"credit_type": None},
    {"amount": 0},
    {"amount": -1},
    {"amount": 10**9},
    {"amount": "1"},
    {"amount": 1.5},
    {"user_id": 0},
    {"user_id": "abc"},
    {"user_id": [1]},
]


async def test_bad_deductions_are_400_and_write_nothing(site):
    for change in BAD_DEDUCTIONS:
        response = await site.post(
            "/users/deduct-credits", json=deduction(user_id=9, **{}) | change
        )
        assert_error(response, 400, "validation_error")
    for missing in ("user_id", "credit_type", "amount"):
        body = deduction(user_id=9)
        body.pop(missing)
        response = await site.post("/users/deduct-credits", json=body)
        assert_error(response, 400, "invalid_request")
        assert response.json()["message"] == f"Missing required fields: {missing}"
    assert await site.service.store.get_user(site.site_id, "9") is None
    assert await ledger(site) == []
    assert await site.service.store.list_webhook_deliveries(site.site_id) == []


# ---------------------------------------------------------------- isolation
async def test_a_site_cannot_read_or_spend_another_sites_users(service, site):
    other = await service.register()
    await site.post("/users/deduct-credits", json=deduction(user_id=1, amount=5))
    assert (await site.credits(1))["article_credits"] == 0
    # user 1 of the other site is another person with their own balance
    assert await other.credits(1) == FREE
    assert (await other.post("/users/deduct-credits", json=deduction(amount=5))).status_code == 200
    assert (await site.credits(1))["article_credits"] == 0
    theirs = await other.get("/users/transactions", params={"user_id": "1"})
    assert {t["site_id"] for t in theirs.json()["transactions"]} == {other.site_id}


# ---------------------------------------------------------------- the ledger
async def test_transactions_are_newest_first_and_paginated(site):
    for amount in (1, 2, 1):
        await site.post("/users/deduct-credits", json=deduction(amount=amount))
    await site.post("/users/deduct-credits", json=deduction(credit_type="image", amount=4))
    # 3 free entries + 4 deductions
    page = await site.get("/users/transactions", params={"user_id": "1", "limit": "3"})
    assert page.status_code == 200, page.text
    first = page.json()
    assert first["has_more"] is True and first["limit"] == 3 and first["offset"] == 0
    assert [t["delta"] for t in first["transactions"]] == [-4, -1, -2]
    assert first["transactions"][0]["credit_type"] == "image"
    rest = (
        await site.get("/users/transactions", params={"user_id": "1", "limit": "3", "offset": "3"})
    ).json()
    assert [t["delta"] for t in rest["transactions"]][0] == -1
    assert rest["has_more"] is True
    last = (
        await site.get("/users/transactions", params={"user_id": "1", "limit": "3", "offset": "6"})
    ).json()
    assert len(last["transactions"]) == 1 and last["has_more"] is False
    ids = [
        t["transaction_id"]
        for t in first["transactions"] + rest["transactions"] + last["transactions"]
    ]
    assert len(set(ids)) == 7


async def test_transactions_filter_by_credit_type(site):
    await site.post("/users/deduct-credits", json=deduction(credit_type="image", amount=2))
    body = (
        await site.get("/users/transactions", params={"user_id": "1", "credit_type": "image"})
    ).json()
    assert [(t["kind"], t["delta"]) for t in body["transactions"]] == [
        ("deduction", -2),
        ("free", 10),
    ]
    assert body["has_more"] is False


async def test_an_unknown_user_has_no_transactions_and_is_not_created(site):
    body = (await site.get("/users/transactions", params={"user_id": "404"})).json()
    assert body["transactions"] == [] and body["has_more"] is False
    assert await site.service.store.get_user(site.site_id, "404") is None


async def test_bad_transaction_queries_are_400(site):
    assert_error(
        await site.get("/users/transactions", params={"user_id": "1", "limit": "500"}),
        400,
        "validation_error",
    )
    assert_error(
        await site.get("/users/transactions", params={"limit": "5"}), 400, "invalid_request"
    )


async def test_an_idempotency_key_is_scoped_to_its_user(site):
    key = {"Idempotency-Key": "generation-42"}
    first = await site.post(
        "/users/deduct-credits",
        headers=key,
        json={"user_id": 1, "credit_type": "article", "amount": 1},
    )
    other = await site.post(
        "/users/deduct-credits",
        headers=key,
        json={"user_id": 2, "credit_type": "article", "amount": 1},
    )

    assert first.json()["transaction_id"] != other.json()["transaction_id"]
    assert (await site.credits(1))["article_credits"] == 4
    assert (await site.credits(2))["article_credits"] == 4


async def test_an_idempotency_key_reused_for_another_request_is_409_and_writes_nothing(site):
    key = {"Idempotency-Key": "generation-7"}
    first = await site.post("/users/deduct-credits", headers=key, json=deduction(amount=2))
    assert first.status_code == 200, first.text
    entries = await ledger(site)
    deliveries = [
        d.delivery_id for d in await site.service.store.list_webhook_deliveries(site.site_id)
    ]
    for change in (
        {"credit_type": "image"},
        {"amount": 1},
        {"amount": 3},
        {"credit_type": "rewrite", "amount": 2},
    ):
        response = await site.post(
            "/users/deduct-credits", headers=key, json=deduction(amount=2) | change
        )
        assert_error(response, 409, "idempotency_key_reused")
    assert await ledger(site) == entries
    assert [
        d.delivery_id for d in await site.service.store.list_webhook_deliveries(site.site_id)
    ] == deliveries
    assert await site.credits(1) == {**FREE, "article_credits": 3}
    again = await site.post("/users/deduct-credits", headers=key, json=deduction(amount=2))
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["transaction_id"] == first.json()["transaction_id"]


async def test_an_amount_sent_as_a_whole_float_is_spent_and_answered_as_an_integer(site):
    # JSON Schema counts 2.0 and 2e0 as integers; Python's json reads them as floats.
    for amount in (2.0, 2e0):
        response = await site.post("/users/deduct-credits", json=deduction(amount=amount))
        assert response.status_code == 200, response.text
        assert type(response.json()["amount"]) is int
    entries = await ledger(site)
    assert all(type(e.delta) is int for e in entries)
    assert [e.delta for e in entries if e.delta < 0] == [-2, -2]
