"""POST /analytics/generation and /analytics/usage: stored as the plugin sends them."""

from __future__ import annotations

import json
import sqlite3

GENERATION = {
    "user_id": 1,
    "user_email": "editor@example.com",
    "site_url": "http://127.0.0.1:9",
    "content_type": "article",
    "prompt": "京都の紅葉スポットについて",
    "result_length": 4210,
    "credits_used": 1,
    "timestamp": "2025-11-06 09:20:01",
}

USAGE = {
    "site_url": "http://127.0.0.1:9",
    "instance_id": "filled-in",
    "sync_period": {"from": "2025-11-06 08:20:01", "to": "2025-11-06 09:20:01"},
    "generations": [
        {
            "user_id": "1",
            "content_type": "article",
            "prompt": "京都",
            "result_length": "4210",
            "created_at": "2025-11-06 09:20:01",
        }
    ],
    "transactions": [
        {
            "user_id": "1",
            "transaction_type": "purchase",
            "credit_type": "article",
            "amount": "10",
            "created_at": "2025-11-06 09:19:00",
        }
    ],
    "total_users": "2",
    "plugin_version": "2.2.0",
}


def stored_rows(service, table: str) -> list[tuple[str, dict]]:
    """Read the SQLite file directly, as another process would."""
    with sqlite3.connect(service.settings.sqlite_path) as db:
        rows = db.execute(f"SELECT site_id, data FROM {table} ORDER BY seq").fetchall()
    return [(site_id, json.loads(data)) for site_id, data in rows]


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["success"] is False and response.json()["error"] == code


async def test_a_generation_is_recorded_for_the_site(site):
    response = await site.post("/analytics/generation", json=GENERATION)
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    [(site_id, data)] = stored_rows(site.service, "analytics_generations")
    assert site_id == site.site_id
    assert data["prompt"] == "京都の紅葉スポットについて"
    assert data["result_length"] == 4210 and data["timestamp"] == "2025-11-06 09:20:01"


async def test_a_generation_with_numbers_as_strings_is_accepted(site):
    response = await site.post(
        "/analytics/generation",
        json={**GENERATION, "user_id": "1", "result_length": "4210", "credits_used": "1"},
    )
    assert response.status_code == 200, response.text
    [(_, data)] = stored_rows(site.service, "analytics_generations")
    assert data["result_length"] == "4210"


async def test_a_usage_report_with_numbers_as_strings_is_stored(site):
    response = await site.post("/analytics/usage", json={**USAGE, "instance_id": site.instance_id})
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    [(site_id, data)] = stored_rows(site.service, "analytics_usage")
    assert site_id == site.site_id
    assert data["generations"][0]["result_length"] == "4210"
    assert data["transactions"][0]["amount"] == "10"
    assert data["sync_period"]["to"] == "2025-11-06 09:20:01"


async def test_an_empty_usage_report_is_accepted(site):
    response = await site.post(
        "/analytics/usage",
        json={
            "site_url": "http://127.0.0.1:9",
            "generations": [],
            "transactions": [],
            "total_users": 0,
        },
    )
    assert response.status_code == 200, response.text


async def test_analytics_writes_no_credits(site):
    await site.post("/analytics/generation", json=GENERATION)
    await site.post("/analytics/usage", json=USAGE)
    assert await site.service.store.list_ledger(site_id=site.site_id) == []


async def test_bad_analytics_are_400_and_store_nothing(site):
    missing = {k: v for k, v in GENERATION.items() if k != "content_type"}
    assert_error(await site.post("/analytics/generation", json=missing), 400, "invalid_request")
    bad_generations = [
        {**GENERATION, "prompt": "x" * 2001},
        {**GENERATION, "result_length": -5},
        {**GENERATION, "result_length": "many"},
        {**GENERATION, "timestamp": "yesterday"},
    ]
    for body in bad_generations:
        assert_error(await site.post("/analytics/generation", json=body), 400, "validation_error")
    for body in (
        {**USAGE, "generations": "none"},
        {**USAGE, "total_users": "two"},
        {**USAGE, "sync_period": {"from": "last hour"}},
    ):
        assert_error(await site.post("/analytics/usage", json=body), 400, "validation_error")
    assert stored_rows(site.service, "analytics_generations") == []
    assert stored_rows(site.service, "analytics_usage") == []


async def test_analytics_need_authentication(service):
    for kind, body in (("generation", GENERATION), ("usage", USAGE)):
        response = await service.http.post(f"{service.url}/api/v1/analytics/{kind}", json=body)
        assert_error(response, 401, "missing_authorization")
    assert stored_rows(service, "analytics_generations") == []
