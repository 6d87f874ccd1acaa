"""GET /health: the service and its store answer; 503 in the envelope when the store does not."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

from service.settings import Settings

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


async def test_health_echoes_the_harness_run_token_only_when_one_is_set(make_service):
    plain = await make_service()
    started_by_up = await make_service(harness_run="run-token-of-this-up")

    without = await plain.http.get(f"{plain.url}/api/v1/health")
    with_token = await started_by_up.http.get(f"{started_by_up.url}/api/v1/health")

    assert without.status_code == 200 and "x-rakubun-harness-run" not in without.headers
    assert with_token.status_code == 200, with_token.text
    assert with_token.headers["x-rakubun-harness-run"] == "run-token-of-this-up"
    assert with_token.json()["status"] == "ok"  # the same body, validated against the spec


def test_the_harness_run_token_is_read_from_rakubun_harness_run():
    assert Settings.from_env({"RAKUBUN_HARNESS_RUN": " abc "}).harness_run == "abc"
    assert Settings.from_env({}).harness_run is None
