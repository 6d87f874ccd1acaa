"""Admin credit adjustments (exactly once, with a reason), the ledger query, stats, reconcile."""

from __future__ import annotations

import asyncio
import json

from tests.support.answers import assert_error


async def adjust(service, site_id: str, user_id: str = "1", **body):
    return await service.http.post(
        f"{service.url}/api/v1/admin/sites/{site_id}/users/{user_id}/credits",
        json={"credit_type": "article", "amount": 5, "reason": "Compensation", **body},
        headers=service.admin_headers(),
    )


async def ledger(service, **params):
    response = await service.http.get(
        f"{service.url}/api/v1/admin/ledger", params=params, headers=service.admin_headers()
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_adjustment_is_one_ledger_entry_with_its_own_source_ref(service, site):
    await site.credits(1)
    response = await adjust(
        service, site.site_id, amount=7, reason="Failed generation", adjustment_id="adj-001"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed" and body["amount"] == 7
    assert body["remaining_credits"]["article_credits"] == 12
    entries = [
        e for e in await service.store.list_ledger(site_id=site.site_id) if e.kind == "adjustment"
    ]
    assert len(entries) == 1
    entry = entries[0]
    assert entry.transaction_id == body["transaction_id"]
    assert entry.reason == "Failed generation" and entry.delta == 7
    assert "adj-001" in entry.source_ref
    other_refs = {
        e.source_ref
        for e in await service.store.list_ledger(site_id=site.site_id)
        if e.kind != "adjustment"
    }
    assert entry.source_ref not in other_refs


async def test_an_adjustment_happens_once_per_adjustment_id(service, site):
    first = await adjust(service, site.site_id, adjustment_id="adj-once")
    again = await adjust(service, site.site_id, adjustment_id="adj-once")
    assert again.status_code == 200
    assert again.json()["status"] == "already_completed"
    assert again.json()["transaction_id"] == first.json()["transaction_id"]
    concurrent = await asyncio.gather(
        *(adjust(service, site.site_id, adjustment_id="adj-race") for _ in range(5))
    )
    assert len({r.json()["transaction_id"] for r in concurrent}) == 1
    assert (await site.credits(1))["article_credits"] == 5 + 5 + 5


async def test_adjustments_without_an_id_each_apply(service, site):
    await adjust(service, site.site_id, amount=1)
    await adjust(service, site.site_id, amount=1)
    assert (await site.credits(1))["article_credits"] == 7


async def test_an_adjustment_tells_the_plugin_with_the_users_email(service, site):
    await site.get("/users/credits", params={"user_id": "1", "user_email": "ed@example.com"})
    await adjust(service, site.site_id, amount=3, credit_type="image", adjustment_id="adj-n")
    await adjust(service, site.site_id, amount=3, credit_type="image", adjustment_id="adj-n")
    deliveries = [
        d
        for d in await service.store.list_webhook_deliveries(site.site_id)
        if d.event == "credits_updated"
    ]
    assert len(deliveries) == 1
    data = json.loads(deliveries[0].body)["data"]
    assert data["user_email"] == "ed@example.com"
    assert data["credit_type"] == "image" and data["change"] == 3 and data["credits"] == 13


async def test_a_negative_adjustment_within_the_balance_applies(service, site):
    response = await adjust(service, site.site_id, amount=-5, reason="Abuse")
    assert response.status_code == 200, response.text
    assert response.json()["remaining_credits"]["article_credits"] == 0


async def test_a_negative_adjustment_beyond_the_balance_is_409_and_changes_nothing(service, site):
    await site.credits(1)
    before = await service.store.list_ledger(site_id=site.site_id)
    body = assert_error(
        await adjust(service, site.site_id, amount=-6, adjustment_id="adj-neg"),
        409,
        "insufficient_credits",
    )
    assert body["remaining_credits"]["article_credits"] == 5
    assert await service.store.list_ledger(site_id=site.site_id) == before
    assert [
        d
        for d in await service.store.list_webhook_deliveries(site.site_id)
        if d.event == "credits_updated"
    ] == []


async def test_bad_adjustments_are_400_and_write_nothing(service, site):
    for body in (
        {"amount": 0},
        {"amount": "5"},
        {"credit_type": "video"},
        {"reason": ""},
        {"amount": 10**7},
        {"adjustment_id": "has space"},
    ):
        assert_error(
            await adjust(service, site.site_id, user_id="8", **body), 400, "validation_error"
        )
    assert_error(await adjust(service, site.site_id, user_id="abc"), 400, "validation_error")
    assert await service.store.get_user(site.site_id, "8") is None
    assert await service.store.list_ledger(site_id=site.site_id) == []


async def test_an_adjustment_of_an_unknown_site_is_404(service):
    assert_error(await adjust(service, "site_missing"), 404, "site_not_found")


async def test_the_ledger_filters_by_site_user_and_credit_type(service, site):
    other = await service.register()
    await site.credits(1)
    await site.credits(2)
    await other.credits(1)
    await adjust(service, site.site_id, user_id="2", credit_type="rewrite", amount=2)
    everything = await ledger(service)
    assert len(everything["transactions"]) == 3 * 3 + 1
    mine = await ledger(service, site_id=site.site_id)
    assert {t["site_id"] for t in mine["transactions"]} == {site.site_id}
    assert len(mine["transactions"]) == 7
    user_two = await ledger(service, site_id=site.site_id, user_id="2")
    assert user_two["transactions"][0]["kind"] == "adjustment"  # newest first
    assert {t["user_id"] for t in user_two["transactions"]} == {"2"}
    rewrites = await ledger(service, site_id=site.site_id, user_id="2", credit_type="rewrite")
    assert [t["delta"] for t in rewrites["transactions"]] == [2, 3]
    page = await ledger(service, limit="4")
    assert len(page["transactions"]) == 4 and page["has_more"] is True


async def test_stats_count_sites_users_and_credits(service, site):
    other = await service.register()
    await service.http.post(
        f"{service.url}/api/v1/admin/sites/{other.site_id}/disable",
        json={},
        headers=service.admin_headers(),
    )
    await site.post(
        "/users/deduct-credits", json={"user_id": 1, "credit_type": "article", "amount": 2}
    )
    await site.post(
        "/users/deduct-credits", json={"user_id": 2, "credit_type": "image", "amount": 4}
    )
    response = await service.http.get(
        f"{service.url}/api/v1/admin/stats", headers=service.admin_headers()
    )
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["sites"] == {"total": 2, "active": 1, "disabled": 1}
    assert stats["users"] == 2
    assert stats["credits_spent"] == {"article": 2, "image": 4, "rewrite": 0}
    assert stats["credits_sold"] == {"article": 0, "image": 0, "rewrite": 0}
    assert stats["revenue"] == {}


async def test_reconcile_proves_every_balance_equals_its_ledger(service, site):
    await site.credits(1)
    await site.post(
        "/users/deduct-credits", json={"user_id": 1, "credit_type": "article", "amount": 1}
    )
    await adjust(service, site.site_id, amount=3)
    response = await service.http.post(
        f"{service.url}/api/v1/admin/reconcile", headers=service.admin_headers()
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is True and report["differences"] == []
    assert report["balances_checked"] == 3


async def test_an_adjustment_id_reused_for_another_user_is_409_and_creates_nobody(service, site):
    first = await adjust(service, site.site_id, user_id="1", adjustment_id="adj-user")
    assert first.status_code == 200, first.text
    entries = await service.store.list_ledger(site_id=site.site_id, limit=500)
    response = await adjust(service, site.site_id, user_id="2", adjustment_id="adj-user")
    assert_error(response, 409, "idempotency_key_reused")
    assert await service.store.get_user(site.site_id, "2") is None
    assert await service.store.list_ledger(site_id=site.site_id, limit=500) == entries


async def test_an_adjustment_id_reused_with_another_body_is_409_and_writes_nothing(service, site):
    first = await adjust(service, site.site_id, adjustment_id="adj-body")
    assert first.status_code == 200, first.text
    entries = await service.store.list_ledger(site_id=site.site_id, limit=500)
    for change in (
        {"amount": 6},
        {"amount": -5},
        {"credit_type": "image"},
        {"reason": "Another reason"},
    ):
        response = await adjust(service, site.site_id, adjustment_id="adj-body", **change)
        assert_error(response, 409, "idempotency_key_reused")
    assert await service.store.list_ledger(site_id=site.site_id, limit=500) == entries
    assert (await site.credits(1))["article_credits"] == 5 + 5
    again = await adjust(service, site.site_id, adjustment_id="adj-body")
    assert again.json()["status"] == "already_completed"


async def test_an_adjustment_sent_as_a_whole_float_is_an_integer_everywhere(service, site):
    response = await adjust(service, site.site_id, amount=7.0, adjustment_id="adj-float")
    assert response.status_code == 200, response.text
    assert type(response.json()["amount"]) is int
    [entry] = [
        e for e in await service.store.list_ledger(site_id=site.site_id) if e.kind == "adjustment"
    ]
    assert type(entry.delta) is int and entry.delta == 7
    # The same adjustment again, as an integer: the same request, replayed.
    again = await adjust(service, site.site_id, amount=7, adjustment_id="adj-float")
    assert again.status_code == 200, again.text
