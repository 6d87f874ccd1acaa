"""Per-site rate limits, counted in the store so every worker and machine shares them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import pytest


async def in_one_window(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run a scenario inside one rate-limit minute. Counters reset when the minute turns, so a
    run that straddles the turn proves nothing; it runs again (a run takes well under 1 s)."""
    for attempt in range(2):
        start = int(time.time() // 60)
        try:
            await scenario()
        except AssertionError:
            if attempt or int(time.time() // 60) == start:
                raise
            continue
        if int(time.time() // 60) == start:
            return
    pytest.fail("the scenario straddled two minute windows twice")


async def credits(site):
    return await site.get("/users/credits", params={"user_id": "1"})


def assert_rate_limited(response) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["success"] is False and body["error"] == "rate_limited" and body["message"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    return retry_after


async def test_the_call_past_the_limit_is_429_with_retry_after(make_service):
    service = await make_service(rate_limit_per_minute=3)

    async def scenario() -> None:
        site = await service.register()
        for _ in range(3):
            assert (await credits(site)).status_code == 200
        assert_rate_limited(await credits(site))
        assert_rate_limited(await site.post("/users/deduct-credits", json={
            "user_id": 1, "credit_type": "article", "amount": 1}))
        # the refused deduction spent nothing
        assert (await service.store.get_user(site.site_id, "1")).balances.article == 5

    await in_one_window(scenario)


async def test_each_site_has_its_own_limit(make_service):
    service = await make_service(rate_limit_per_minute=2)

    async def scenario() -> None:
        first, second = await service.register(), await service.register()
        for _ in range(2):
            assert (await credits(first)).status_code == 200
        assert_rate_limited(await credits(first))
        assert (await credits(second)).status_code == 200

    await in_one_window(scenario)


async def test_two_services_on_one_store_share_the_limit(make_service):
    one = await make_service(rate_limit_per_minute=3)
    two = await make_service(rate_limit_per_minute=3)  # the same SQLite file

    async def scenario() -> None:
        site = await one.register()
        on_two = type(site)(two, site.instance_id, site.registration)
        assert (await credits(site)).status_code == 200
        assert (await credits(on_two)).status_code == 200
        assert (await credits(site)).status_code == 200
        assert_rate_limited(await credits(on_two))
        assert_rate_limited(await credits(site))

    await in_one_window(scenario)


async def test_the_limit_counts_only_authenticated_site_calls(make_service):
    service = await make_service(rate_limit_per_minute=2)
    site = await service.register()
    for _ in range(4):  # the public catalogue is not counted against the site
        assert (await service.http.get(f"{service.url}/api/v1/packages",
                                       headers=site.headers())).status_code == 200
    assert (await credits(site)).status_code == 200


async def test_a_forged_token_does_not_spend_the_sites_limit(make_service):
    service = await make_service(rate_limit_per_minute=2)

    async def scenario() -> None:
        site = await service.register()
        for _ in range(4):
            response = await site.service.http.get(
                f"{service.url}/api/v1/users/credits", params={"user_id": "1"},
                headers=site.headers(Authorization="Bearer rk_forged"))
            assert response.status_code == 401
        assert (await credits(site)).status_code == 200

    await in_one_window(scenario)


async def test_registration_is_limited_per_client_address(make_service):
    service = await make_service(rate_limit_per_minute=2)

    async def scenario() -> None:
        await service.register()
        await service.register()
        third = f"third-{uuid.uuid4()}"
        response = await service.http.post(f"{service.url}/api/v1/plugins/register", json={
            "instance_id": third, "site_url": "https://a.example", "admin_email": "a@example.com"})
        assert_rate_limited(response)
        assert await service.store.get_site_by_instance(third) is None

    await in_one_window(scenario)


async def test_a_limit_of_zero_turns_limiting_off(make_service):
    service = await make_service(rate_limit_per_minute=0)
    site = await service.register()
    for _ in range(5):
        assert (await credits(site)).status_code == 200
