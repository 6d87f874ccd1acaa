"""Per-site rate limits, counted in the store so every worker and machine shares them."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest

from service.http.contract import HTTP_METHODS, Contract


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
        assert_rate_limited(
            await site.post(
                "/users/deduct-credits", json={"user_id": 1, "credit_type": "article", "amount": 1}
            )
        )
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
        assert (
            await service.http.get(f"{service.url}/api/v1/packages", headers=site.headers())
        ).status_code == 200
    assert (await credits(site)).status_code == 200


async def test_a_forged_token_does_not_spend_the_sites_limit(make_service):
    service = await make_service(rate_limit_per_minute=2)

    async def scenario() -> None:
        site = await service.register()
        for _ in range(4):
            response = await site.service.http.get(
                f"{service.url}/api/v1/users/credits",
                params={"user_id": "1"},
                headers=site.headers(Authorization="Bearer rk_forged"),
            )
            assert response.status_code == 401
        assert (await credits(site)).status_code == 200

    await in_one_window(scenario)


async def test_registration_is_limited_per_client_address(make_service):
    service = await make_service(rate_limit_per_minute=2)

    async def scenario() -> None:
        await service.register()
        await service.register()
        third = f"third-{uuid.uuid4()}"
        response = await service.http.post(
            f"{service.url}/api/v1/plugins/register",
            json={
                "instance_id": third,
                "site_url": "https://a.example",
                "admin_email": "a@example.com",
            },
        )
        assert_rate_limited(response)
        assert await service.store.get_site_by_instance(third) is None

    await in_one_window(scenario)


async def test_a_limit_of_zero_turns_limiting_off(make_service):
    service = await make_service(rate_limit_per_minute=0)
    site = await service.register()
    for _ in range(5):
        assert (await credits(site)).status_code == 200


# ---------------------------------------------------------------- behind proxies
async def debug_from(service, headers: dict[str, str]) -> int:
    response = await service.http.get(f"{service.url}/api/v1/auth/debug", headers=headers)
    return response.status_code


FORGERIES = [
    {"X-Forwarded-For": "203.0.113.1"},
    {"X-Forwarded-For": "203.0.113.2"},
    {"X-Real-IP": "203.0.113.3"},
    {"Forwarded": "for=203.0.113.4"},
    {"Forwarded": "for=203.0.113.5;secret=guessed"},
]


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"real_ip_header": None, "proxies_count": 0},
        {"forwarded_secret": "the-proxy-secret"},
    ],
    ids=["defaults", "no-proxies", "forwarded-secret-not-sent"],
)
async def test_forged_client_headers_do_not_split_the_limit(make_service, settings):
    service = await make_service(rate_limit_per_minute=2, **settings)

    async def scenario() -> None:
        statuses = [await debug_from(service, headers) for headers in FORGERIES[:3]]
        assert statuses == [200, 200, 429]

    await in_one_window(scenario)


TRUSTED = {
    "proxies-count": ({"proxies_count": 1}, "X-Forwarded-For", "{ip}"),
    "real-ip-header": ({"real_ip_header": "X-Real-IP"}, "X-Real-IP", "{ip}"),
    "forwarded-secret": (
        {"forwarded_secret": "the-proxy-secret"},
        "Forwarded",
        "for={ip};secret=the-proxy-secret",
    ),
}


@pytest.mark.parametrize("name", sorted(TRUSTED))
async def test_the_limit_keys_on_the_client_the_trusted_proxy_reports(make_service, name):
    settings, header, template = TRUSTED[name]
    service = await make_service(rate_limit_per_minute=2, **settings)

    def client(ip: str) -> dict[str, str]:
        return {header: template.format(ip=ip)}

    async def scenario() -> None:
        # Three clients behind the proxy, each under its own limit...
        for ip in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
            assert await debug_from(service, client(ip)) == 200
        # ...and the first one's third call is its own 429.
        assert await debug_from(service, client("198.51.100.1")) == 200
        assert await debug_from(service, client("198.51.100.1")) == 429
        assert await debug_from(service, client("198.51.100.4")) == 200

    await in_one_window(scenario)


# ---------------------------------------------------------------- which public operations
def spec_marking_per_client(*operation_ids: str) -> Contract:
    """`openapi.yaml` with `x-rate-limit: per-client` on exactly these public operations."""
    spec = copy.deepcopy(Contract.load().spec)
    for item in spec["paths"].values():
        for method in HTTP_METHODS:
            op = item.get(method)
            if op is None:
                continue
            op.pop("x-rate-limit", None)
            if op["operationId"] in operation_ids:
                op["x-rate-limit"] = "per-client"
                op["responses"].setdefault(
                    "429", {"$ref": "#/components/responses/TooManyRequests"}
                )
    return Contract(spec)


async def test_the_spec_names_the_public_operations_limited_per_client(make_service):
    """Unmarked, `/auth/debug` is no longer counted; marked, `/health` is."""
    contract = spec_marking_per_client("registerPlugin", "getHealth")
    service = await make_service(rate_limit_per_minute=2, contract=contract)

    async def scenario() -> None:
        assert [await debug_from(service, {}) for _ in range(3)] == [200, 200, 200]
        health = [await service.http.get(f"{service.url}/api/v1/health") for _ in range(3)]
        assert [response.status_code for response in health[:2]] == [200, 200]
        assert_rate_limited(health[2])

    await in_one_window(scenario)
