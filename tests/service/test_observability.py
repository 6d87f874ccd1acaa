"""Request ids and the access log: every request, failed ones included, gets an id that is
echoed and logged, and ends in one access line with its operation, status, duration, site and
request id; never a token or a secret."""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import signal
import subprocess
import threading

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.observability import (
    REQUEST_ID,
    JsonFormatter,
    RequestIdFilter,
    request_id_for,
)
from tests.service.test_cli import free_port, start_json_logging_service

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
async def logged(make_service, caplog):
    """A service with the access log on; caplog's records carry the request id."""
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())
    service = await make_service(access_log=True, max_body_bytes=2048)
    return service, caplog


def access_lines(caplog) -> list[dict]:
    return [r.access for r in caplog.records if r.name == "rakubun.access"]


# ---------------------------------------------------------------- the id itself
@given(st.from_regex(r"[A-Za-z0-9._:@/+=-]{1,128}", fullmatch=True))
def test_a_plain_bounded_id_is_kept(header):
    assert request_id_for(header) == header


@given(st.text(min_size=1, max_size=200).filter(lambda s: not REQUEST_ID.fullmatch(s)))
def test_anything_else_gets_a_fresh_id(header):
    assert GENERATED.fullmatch(request_id_for(header))


def test_no_header_gets_a_fresh_id_each_time():
    first, second = request_id_for(None), request_id_for(None)
    assert GENERATED.fullmatch(first) and first != second


# ---------------------------------------------------------------- every answer echoes it
async def test_the_callers_id_is_echoed_and_logged(logged):
    service, caplog = logged
    response = await service.http.get(
        f"{service.url}/api/v1/health", headers={"X-Request-ID": "lb-42.abc"}
    )
    assert response.headers["x-request-id"] == "lb-42.abc"
    (line,) = access_lines(caplog)
    assert line["request_id"] == "lb-42.abc"
    assert line["operation"] == "getHealth" and line["status"] == 200
    assert line["duration_ms"] >= 0


@pytest.mark.parametrize("header", ["x" * 129, "has space", "new\tline", "é".encode()])
async def test_an_unsafe_id_is_replaced(logged, header):
    service, caplog = logged
    response = await service.http.get(
        f"{service.url}/api/v1/health", headers={"X-Request-ID": header}
    )
    echoed = response.headers["x-request-id"]
    assert GENERATED.fullmatch(echoed)
    assert access_lines(caplog)[0]["request_id"] == echoed
    assert (header if isinstance(header, str) else header.decode()) not in caplog.text


async def failures(service, site):
    """(request, expected status, expected operation) for every way a request can fail."""
    base = f"{service.url}/api/v1"
    http = service.http
    return [
        (http.get(f"{base}/users/credits", params={"user_id": "1"}), 401, "getUserCredits"),
        (
            http.get(f"{base}/admin/sites", headers={"Authorization": "Bearer wrong-admin"}),
            401,
            "adminListSites",
        ),
        (site.post("/users/deduct-credits", json={"user_id": 1}), 400, "deductCredits"),
        (http.get(f"{base}/no/such/endpoint"), 404, "-"),
        (http.delete(f"{base}/packages"), 405, "-"),
        (
            http.post(
                f"{base}/plugins/register",
                content=b"{" + b" " * 4096 + b"}",
                headers={"Content-Type": "application/json"},
            ),
            413,
            "-",
        ),
    ]


async def test_every_failed_request_gets_an_id_and_one_access_line(logged):
    service, caplog = logged
    site = await service.register()
    caplog.clear()
    for number, (request, status, operation) in enumerate(await failures(service, site)):
        caplog.clear()
        response = await request
        assert response.status_code == status, response.text
        request_id = response.headers.get("x-request-id")
        assert request_id and GENERATED.fullmatch(request_id), number
        lines = access_lines(caplog)
        assert len(lines) == 1, (status, lines)
        assert lines[0]["status"] == status and lines[0]["request_id"] == request_id
        if operation != "-":
            assert lines[0]["operation"] == operation


async def test_an_unexpected_failure_is_logged_with_its_request_id(logged, monkeypatch):
    service, caplog = logged

    async def broken(**_):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(service.store, "list_packages", broken)
    response = await service.http.get(
        f"{service.url}/api/v1/packages", headers={"X-Request-ID": "fire-1"}
    )
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "fire-1"
    mine = [r for r in caplog.records if getattr(r, "request_id", None) == "fire-1"]
    assert {r.name for r in mine} >= {"rakubun", "rakubun.access"}
    assert access_lines(caplog)[0]["status"] == 500
    assert access_lines(caplog)[0]["operation"] == "listPackages"


async def test_a_plugin_call_logs_its_site_and_never_its_token(logged):
    service, caplog = logged
    site = await service.register()
    caplog.clear()
    response = await site.get("/users/credits", params={"user_id": "1"})
    assert response.status_code == 200
    (line,) = access_lines(caplog)
    assert line["site_id"] == site.site_id and line["operation"] == "getUserCredits"
    assert site.token not in caplog.text and site.webhook_secret not in caplog.text


async def test_no_access_line_when_it_is_off(make_service, caplog):
    caplog.set_level(logging.INFO)
    service = await make_service(access_log=False)
    response = await service.http.get(f"{service.url}/api/v1/health")
    assert response.headers["x-request-id"]
    assert access_lines(caplog) == []


# ---------------------------------------------------------------- JSON lines
def test_json_lines_carry_the_access_fields_and_the_request_id():
    record = logging.LogRecord(
        "rakubun.access", logging.INFO, __file__, 1, "GET / %s", (200,), None
    )
    record.access = {
        "operation": "getHealth",
        "status": 200,
        "duration_ms": 1.5,
        "site_id": "-",
        "request_id": "r-1",
    }
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET / 200"
    assert line["operation"] == "getHealth" and line["status"] == 200
    assert line["duration_ms"] == 1.5 and line["request_id"] == "r-1"


# ---------------------------------------------------------------- the whole process's output
def read_lines(stream, into: queue.Queue[str | None]) -> threading.Thread:
    """A thread putting each line of `stream` on `into`, then None at its end."""

    def read() -> None:
        for line in stream:
            into.put(line)
        into.put(None)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def drained(lines: queue.Queue[str | None]) -> list[str]:
    """Every line put on `lines`, once its reader has ended."""
    found = []
    while (line := lines.get(timeout=60)) is not None:
        found.append(line)
    return found


@pytest.mark.parametrize("workers", [2, 1])
def test_every_line_of_a_running_service_is_one_json_object_on_stderr(tmp_path, workers):
    """Sanic's own lines (workers starting, stopping, signals) go through the service's log
    handler like any other: with LOG_FORMAT=json nothing else is written, on stdout or
    stderr, and no line is written twice (Sanic's handlers wrote them in its own text format
    on stdout, and again through the service's)."""
    port = free_port()
    process = start_json_logging_service(
        tmp_path / "db.sqlite3",
        port,
        workers,
        "t" * 32,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the whole service can be killed
    )
    stdout: queue.Queue[str | None] = queue.Queue()
    stderr: queue.Queue[str | None] = queue.Queue()
    read_lines(process.stdout, stdout)
    read_lines(process.stderr, stderr)
    lines: list[str] = []
    try:
        while sum("Worker ready" in line for line in lines) < workers:
            line = stderr.get(timeout=60)
            assert line is not None, "the service stopped: " + "".join(lines)
            lines.append(line)
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health").is_success
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Sanic 25's main process never ends when the signal comes before it has seen
            # every worker's start-up acknowledged (it waits for the acknowledgements, its
            # workers already gone); the lines this test reads are written by then.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    lines += drained(stderr)
    assert drained(stdout) == []
    records = [json.loads(line) for line in lines if line.strip()]
    started = [r for r in records if r["message"].startswith("Starting worker")]
    assert len(started) == workers, started
    assert len({r["pid"] for r in started}) == workers
    assert any(r["logger"] == "rakubun.access" for r in records)
