"""Two worker processes of one `rakubun-service`: what each caches (sites, packages) and what
each counts in memory (rate limits) stays right across workers.

Which worker answered is read from the access log (`LOG_FORMAT=json` lines carry `pid` and
the request id the test sent)."""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.service_process import (
    free_port,
    running_service_process,
    start_service_process,
)

ADMIN = "adm-" * 8
#: The promise of docs/operating.md: a site disabled through the admin API is refused by every
#: worker within this many seconds.
REFUSED_WITHIN = 1.0


#: One client for every call: a new httpx client loads the CA bundle, which took most of these
#: tests' time. It keeps no connection, so every call still opens its own.
FRESH_CONNECTIONS = httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0))


class TwoWorkers:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def call(self, path: str, request_id: str, **headers: str) -> httpx.Response:
        """One request on a fresh connection, so the workers share the calls."""
        return FRESH_CONNECTIONS.get(
            f"{self.url}{path}", headers={"X-Request-ID": request_id, **headers}
        )

    def pids(self, request_ids: set[str], timeout: float = 10) -> dict[str, int]:
        """The worker pid of each request, from the access lines (written by a thread, so
        polled until they are all there, within `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            found = {}
            for line in self.log.read_text(errors="replace").splitlines():
                if not line.startswith("{"):
                    continue
                record = json.loads(line)
                if (
                    record.get("logger") == "rakubun.access"
                    and record.get("request_id") in request_ids
                ):
                    found[record["request_id"]] = record["pid"]
            if len(found) == len(request_ids) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)  # polling the log file for the lines, bounded by the deadline


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[TwoWorkers]:
    with running(tmp_path, rate_limit=100_000) as service:
        yield service


def both_serving(service: TwoWorkers, timeout: float = 60) -> set[int]:
    """The workers' pids, once each has answered (one still starting takes no connection)."""
    deadline = time.monotonic() + timeout
    asked: set[str] = set()
    while True:
        request_id = str(uuid.uuid4())
        asked.add(request_id)
        assert service.call("/api/v1/health", request_id).status_code == 200
        pids = set(service.pids(asked).values())
        if len(pids) == 2:
            return pids
        assert time.monotonic() < deadline, "one worker never answered"


@contextlib.contextmanager
def running(tmp_path: Path, *, rate_limit: int) -> Iterator[TwoWorkers]:
    """`rakubun-service --workers 2` on a fresh SQLite file."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = tmp_path / "service.log"
    env = {
        "SQLITE_PATH": str(tmp_path / "rakubun.sqlite3"),
        "ADMIN_API_TOKEN": ADMIN,
        "LOG_FORMAT": "json",
        "ACCESS_LOG": "1",
        "RATE_LIMIT_PER_MINUTE": str(rate_limit),
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",
        "WEBHOOK_LOOPBACK_ONLY": "1",
    }
    with log.open("w") as out:
        process = start_service_process(
            port, "--log-level", "INFO", workers=2, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    with running_service_process(process, port) as (url, _):
        yield TwoWorkers(url, log)


def register(service: TwoWorkers) -> tuple[str, dict[str, str]]:
    instance_id = str(uuid.uuid4())
    answer = httpx.post(
        f"{service.url}/api/v1/plugins/register",
        timeout=10,
        json={
            "instance_id": instance_id,
            "site_url": "http://127.0.0.1:9",
            "admin_email": "admin@example.com",
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["site_id"], {
        "Authorization": f"Bearer {body['api_token']}",
        "X-Instance-ID": instance_id,
    }


CREDITS = "/api/v1/users/credits?user_id=1"


def test_a_disabled_site_is_refused_by_every_worker_within_a_second(two_workers):
    site_id, plugin = register(two_workers)
    # Both workers answer the site (so both have it cached) before it is disabled.
    warm = {}
    for i in range(60):
        request_id = f"warm-{i}"
        assert two_workers.call(CREDITS, request_id, **plugin).status_code == 200
        warm[request_id] = None
        if i >= 9 and len(set(two_workers.pids(set(warm)).values())) == 2:
            break
    workers = set(two_workers.pids(set(warm)).values())
    assert len(workers) == 2, "the calls never reached both workers"

    disabled = httpx.post(
        f"{two_workers.url}/api/v1/admin/sites/{site_id}/disable",
        headers={"Authorization": f"Bearer {ADMIN}"},
        json={"reason": "test"},
        timeout=10,
    )
    assert disabled.status_code == 200, disabled.text
    disabled_at = time.monotonic()

    # Call until both workers have answered after the deadline; every answer after it is 403.
    late: dict[str, int] = {}
    give_up = disabled_at + REFUSED_WITHIN + 30  # calls take no set time: bounded by the clock
    for i in itertools.count():
        assert time.monotonic() < give_up, "both workers never answered after the deadline"
        request_id = f"after-{i}"
        sent_at = time.monotonic()
        answer = two_workers.call(CREDITS, request_id, **plugin)
        if sent_at - disabled_at >= REFUSED_WITHIN:
            assert answer.status_code == 403, (sent_at - disabled_at, answer.text)
            assert answer.json()["error"] == "site_disabled"
            late[request_id] = answer.status_code
            if len(late) >= 10 and set(two_workers.pids(set(late)).values()) == workers:
                break
    assert set(two_workers.pids(set(late)).values()) == workers, "a worker was never asked"


# Soak: its calls must fit in one minute window, so it runs alone (tox -e soak), never beside
# another xdist worker.
@pytest.mark.soak
def test_the_rate_limit_holds_across_workers_within_the_stated_tolerance(tmp_path):
    """docs/operating.md's tolerance on two real workers: of the calls in one minute, at least the
    limit and at most limit + workers x (limit // 20) get through."""
    limit, workers = 100, 2
    for attempt in range(2):
        minute = int(time.time() // 60)
        with running(tmp_path / f"run{attempt}", rate_limit=limit) as service:
            _, plugin = register(service)
            both_serving(service)  # a worker still starting takes no connection: none counted
            statuses = [
                service.call(CREDITS, f"rl-{i}", **plugin).status_code for i in range(limit + 60)
            ]
            both = len(set(service.pids({f"rl-{i}" for i in range(limit + 60)}).values()))
        if int(time.time() // 60) != minute:
            continue  # the window turned during the run: the counts start over; again
        assert both == workers, "the calls never reached both workers"
        assert set(statuses) <= {200, 429}
        admitted = statuses.count(200)
        assert limit <= admitted <= limit + workers * (limit // 20), admitted
        return
    pytest.fail("both runs straddled a minute window")
