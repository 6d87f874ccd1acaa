"""GET /health: the service and its store answer; 503 in the envelope when the store does not."""

from __future__ import annotations


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
