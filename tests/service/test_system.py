"""GET /health: the service and its store answer; 503 in the envelope when the store does not."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_health_answers_ok_with_the_store_name_and_no_auth(service):
    response = await service.http.get(f"{service.url}/api/v1/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["status"] == "ok"
    assert body["store"] == "sqlite" and body["version"]


async def test_health_is_503_store_unavailable_when_the_store_is_gone(service):
    await service.store.close()
    response = await service.http.get(f"{service.url}/api/v1/health")
    assert response.status_code == 503, response.text
    assert response.json()["success"] is False
    assert response.json()["error"] == "store_unavailable"


async def test_health_reports_the_installed_package_version(service):
    body = (await service.http.get(f"{service.url}/api/v1/health")).json()
    assert body["version"] == version("rakubun-dashboard")
    assert (
        body["version"]
        == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    )


async def test_health_reports_the_outbox_backlog(make_service):
    service = await make_service(webhook_dispatch=False)
    site = await service.register()
    quiet = await service.http.get(f"{service.url}/api/v1/health")
    assert quiet.json()["outbox"] == {"pending": 0, "failed": 0, "oldest_pending_age_seconds": 0}
    await site.post(
        "/users/deduct-credits",
        json={"user_id": 1, "user_email": "u@example.com", "credit_type": "article", "amount": 1},
    )
    outbox = (await service.http.get(f"{service.url}/api/v1/health")).json()["outbox"]
    assert outbox["pending"] == 1 and outbox["failed"] == 0
    assert outbox["oldest_pending_age_seconds"] > 0
