"""/metrics: Prometheus text behind its token, counts that add up across worker processes,
and the store's figures (outbox backlog, ledger entries by kind)."""

from __future__ import annotations

import asyncio
import json
import subprocess

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service.runtime.metrics import LATENCY_BUCKETS, Metrics
from tests.support.service import ADMIN_TOKEN
from tests.support.service_process import (
    free_port,
    running_service_process,
    start_json_logging_service,
)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a scrape."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


# ---------------------------------------------------------------- the tallies of one process
answers = st.lists(
    st.tuples(
        st.sampled_from(["listPackages", "getUserCredits", "-"]),
        st.sampled_from([200, 402, 404]),
        st.one_of(
            st.sampled_from(LATENCY_BUCKETS),  # on a bucket's bound: `le` includes it
            st.floats(min_value=0, max_value=20, allow_nan=False),
        ),
    ),
    max_size=40,
)


def counted(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    """The scrape's request counts and histogram, `_created` timestamps left out."""
    return {
        key: round(number, 9)
        for key, number in samples(generate_latest(metrics.registry).decode()).items()
        if key[0].startswith("rakubun_http") and not key[0].endswith("_created")
    }


@settings(max_examples=200, deadline=None)
@given(first=answers, second=answers)
def test_tallied_requests_scrape_as_prometheus_own_observations(first, second) -> None:
    """In one process requests are tallied and handed over at each scrape: every scrape
    shows what observing each request at once would have shown."""
    tallied, observed = Metrics(), Metrics()
    assert tallied.multiprocess_dir is None  # the tests run in one process
    for batch in (first, second):  # a scrape between the two
        for operation, status, seconds in batch:
            tallied.record_request(operation, status, seconds)
            requests, latency = observed._labelled(operation, status)
            requests.inc()
            latency.observe(seconds)
        tallied.flush()
        assert counted(tallied) == counted(observed)


# ---------------------------------------------------------------- in process
async def test_metrics_needs_its_token(make_service):
    service = await make_service(metrics_token="metrics-" + "m" * 24)
    url = f"{service.url}/metrics"
    assert (await service.http.get(url)).status_code == 401
    wrong = await service.http.get(url, headers=service.admin_headers())
    assert wrong.status_code == 401  # METRICS_TOKEN set: the admin token is not enough
    assert wrong.json()["error"] == "invalid_credentials"
    ok = await service.http.get(url, headers={"Authorization": "Bearer metrics-" + "m" * 24})
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain")
    assert "metrics-" + "m" * 24 not in ok.text


async def test_without_a_metrics_token_the_admin_token_opens_it(service):
    response = await service.http.get(f"{service.url}/metrics", headers=service.admin_headers())
    assert response.status_code == 200


async def test_without_any_token_metrics_is_503(make_service):
    service = await make_service(admin_api_token=None)
    response = await service.http.get(f"{service.url}/metrics")
    assert response.status_code == 503


async def test_requests_latency_ledger_and_outbox_are_counted(make_service):
    service = await make_service(webhook_dispatch=False)
    site = await service.register()
    for _ in range(3):
        assert (
            await site.post(
                "/users/deduct-credits",
                json={
                    "user_id": 1,
                    "user_email": "u@example.com",
                    "credit_type": "article",
                    "amount": 1,
                },
            )
        ).status_code == 200
    await site.get("/users/credits")  # 400: user_id is required
    scrape = samples(
        (await service.http.get(f"{service.url}/metrics", headers=service.admin_headers())).text
    )
    assert (
        value(scrape, "rakubun_http_requests_total", operation="deductCredits", status="200") == 3
    )
    assert (
        value(scrape, "rakubun_http_requests_total", operation="getUserCredits", status="400") == 1
    )
    assert (
        value(
            scrape,
            "rakubun_http_request_duration_seconds_count",
            operation="deductCredits",
            status="200",
        )
        == 3
    )
    assert value(scrape, "rakubun_ledger_entries_total", kind="deduction") == 3
    assert value(scrape, "rakubun_ledger_entries_total", kind="purchase") == 0
    pending = value(scrape, "rakubun_webhook_outbox_deliveries", status="pending")
    assert pending == 3  # credits_updated per deduction, nobody dispatching
    assert value(scrape, "rakubun_webhook_outbox_oldest_pending_age_seconds") > 0
    health = (await service.http.get(f"{service.url}/api/v1/health")).json()
    assert health["outbox"]["pending"] == pending


# ---------------------------------------------------------------- two worker processes
@pytest.fixture(params=[2, 1], ids=["2-workers", "1-worker"])
def workers(request, tmp_path):
    port = free_port()
    process = start_json_logging_service(
        tmp_path / "db.sqlite3",
        port,
        request.param,
        ADMIN_TOKEN,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    with running_service_process(process, port) as (url, _):
        yield url, process, request.param


async def test_counts_add_up_across_workers(workers):
    url, process, count = workers
    requests = 80
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    # A fresh connection per request, many at once, so both workers accept some.
    async def one() -> int:
        async with httpx.AsyncClient(timeout=30) as http:
            return (await http.get(f"{url}/api/v1/packages")).status_code

    statuses = await asyncio.gather(*(one() for _ in range(requests)))
    assert statuses == [200] * requests
    scrapes = []
    for _ in range(8):
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.get(f"{url}/metrics", headers=admin)
        assert response.status_code == 200, response.text
        scrapes.append(samples(response.text))
    process.terminate()
    _, stderr = process.communicate(timeout=30)
    access = [
        json.loads(line)
        for line in stderr.splitlines()
        if line.startswith("{") and '"rakubun.access"' in line
    ]
    served_by = {line["pid"] for line in access if line["operation"] == "listPackages"}
    assert len(served_by) == count, "one worker served every request: nothing to add up"
    for scrape in scrapes:  # whichever worker answered the scrape, the sum is the same
        assert (
            value(scrape, "rakubun_http_requests_total", operation="listPackages", status="200")
            == requests
        )
        assert (
            value(
                scrape,
                "rakubun_http_request_duration_seconds_count",
                operation="listPackages",
                status="200",
            )
            == requests
        )
    assert len([line for line in access if line["operation"] == "listPackages"]) == requests
    assert all(line["request_id"] != "-" for line in access)


async def test_failed_stripe_calls_are_counted_by_code(make_world):
    world = await make_world(stripe_secret_key="sk_test_not_the_fakes_key")
    package = await world.service.store.get_package("image_starter")
    response = await world.site.post(
        "/payments/create-intent",
        json={
            "user_id": 1,
            "credit_type": package.credit_type,
            "package_id": package.package_id,
            "amount": package.price,
            "currency": package.currency,
        },
    )
    assert (response.status_code, response.json()["error"]) == (502, "stripe_error")
    scrape = samples(
        (
            await world.http.get(
                f"{world.service.url}/metrics", headers=world.service.admin_headers()
            )
        ).text
    )
    assert value(scrape, "rakubun_stripe_api_errors_total", code="stripe_error") == 1
    assert "sk_test_not_the_fakes_key" not in str(scrape)
