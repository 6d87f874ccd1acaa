"""Request ids and the access log: every request, failed ones included, gets an id that is
echoed and logged, and ends in one access line with its operation, status, duration, site and
request id; never a token or a secret."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from types import SimpleNamespace

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.http import pipeline
from service.http.pipeline import log_access
from service.runtime import observability
from service.runtime.observability import (
    REQUEST_ID,
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    configure_logging,
    request_id_for,
)
from service.settings import Settings
from tests.support.service_process import free_port, start_json_logging_service

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


@pytest.mark.parametrize(
    ("path", "operation"),
    [("/metrics", "getMetrics"), ("/api/v1/docs/assets/docs.css", "docs_asset_docs_css")],
)
async def test_a_route_outside_the_contract_gets_an_id_and_one_access_line(logged, path, operation):
    """Not an operation: the pipeline's first and last steps run as its route middleware."""
    service, caplog = logged
    headers = {"X-Request-ID": "out-1", **service.admin_headers()}
    response = await service.http.get(f"{service.url}{path}", headers=headers)
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "out-1"
    (line,) = access_lines(caplog)
    assert (line["request_id"], line["status"], line["operation"]) == ("out-1", 200, operation)


async def test_a_failure_inside_a_route_outside_the_contract_logs_one_line(logged, monkeypatch):
    """Answered by the error handler, then by the route's own middleware: still one line."""
    service, caplog = logged

    def broken(figures):
        raise RuntimeError("the exposition broke")

    monkeypatch.setattr(service.services.metrics, "exposition", broken)
    headers = {"X-Request-ID": "m-1", **service.admin_headers()}
    response = await service.http.get(f"{service.url}/metrics", headers=headers)
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "m-1"
    (line,) = access_lines(caplog)
    assert (line["request_id"], line["status"], line["operation"]) == ("m-1", 500, "getMetrics")


async def test_a_request_no_route_took_has_its_id_while_its_error_is_answered(logged, monkeypatch):
    """A 404 never reaches an operation's first step: the error handler gives it its id before
    answering, so any line logged on the way carries it."""
    service, _ = logged
    seen = []
    answer = pipeline._exception_answer

    def watched(request, exc):
        seen.append(observability.current_request_id.get())
        return answer(request, exc)

    monkeypatch.setattr(pipeline, "_exception_answer", watched)
    response = await service.http.get(
        f"{service.url}/api/v1/no/such/endpoint", headers={"X-Request-ID": "lost-1"}
    )
    assert response.status_code == 404
    assert seen == ["lost-1"] and response.headers["x-request-id"] == "lost-1"


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


# ---------------------------------------------------------------- the access line's fast path
access_lines_st = st.builds(
    observability.AccessLine,
    created_ns=st.integers(min_value=0, max_value=4_102_444_800 * 10**9),
    request_id=st.sampled_from(["r-1", "0123456789abcdef0123456789abcdef"]),
    method=st.text(),
    path=st.text(),
    status=st.integers(min_value=100, max_value=599),
    operation=st.sampled_from(["getHealth", "-", "deductCredits"]),
    duration_ms=st.floats(min_value=0, max_value=1e6).map(lambda f: round(f, 2)),
    site_id=st.sampled_from(["-", "site_0123"]),
    instance=st.text(),
    ua=st.text(),
)


@settings(max_examples=300, deadline=None)
@given(line=access_lines_st)
def test_an_access_line_formatted_off_the_record_is_the_records_own_line(line):
    """The writer thread formats a queued access line as it would format its record."""
    record = line.record()
    assert record.name == "rakubun.access" and record.levelno == logging.INFO
    assert TextFormatter().format_access(line) == TextFormatter().format(record)
    assert JsonFormatter().format_access(line) == JsonFormatter().format(record)


def test_the_access_line_skips_the_record_only_when_our_writer_alone_would_see_it(
    monkeypatch,
):
    """With our handler alone on the root logger the line is queued as values; with another
    handler listening (a test's capture, an operator's handler) it is a record again."""
    queued: list = []
    ours = observability._DeferredQueueHandler(SimpleNamespace(put_nowait=queued.append))
    monkeypatch.setattr(observability, "_handler", ours)
    monkeypatch.setattr(logging.root, "handlers", [ours])
    level = observability.access_log.level
    monkeypatch.setattr(observability.access_log, "level", logging.INFO)
    observability.access_log.manager._clear_cache()
    line = observability.AccessLine(1, "r-1", "GET", "/", 200, "getHealth", 0.5, "-", "-", "")
    observability.write_access_line(line)
    assert queued == [line]

    records: list[logging.LogRecord] = []
    other = logging.Handler()
    other.emit = records.append  # type: ignore[method-assign]
    for place in (logging.root, observability.access_log):
        queued.clear(), records.clear()
        place.addHandler(other)
        try:
            observability.write_access_line(line)
        finally:
            place.removeHandler(other)
        assert [r.access for r in records] == [line.fields()]
        assert [type(q) for q in queued] == [logging.LogRecord]  # ours got the record too

    observability.access_log.setLevel(logging.WARNING)
    try:
        queued.clear()
        observability.write_access_line(line)
        assert queued == []
    finally:
        observability.access_log.setLevel(level)


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


# ---------------------------------------------------------------- a log line stays one line
#: A text access line's tokens: `key=` (when named), then a bare value or a JSON string.
ACCESS_TOKEN = r'(?:[a-z_]+=)?(?:"(?:[^"\\]|\\.)*"|[^ "]+)'
ACCESS_LINE = re.compile(rf"{ACCESS_TOKEN}(?: {ACCESS_TOKEN})*")


def parse_access_message(message: str) -> dict:
    """The fields of a text access line's message, JSON-quoted values decoded."""
    assert ACCESS_LINE.fullmatch(message), message
    tokens = re.findall(ACCESS_TOKEN, message)
    method, path, status, operation, duration, site, instance, ua = tokens

    def value(token: str, key: str | None = None) -> str:
        if key is not None:
            assert token.startswith(key + "="), (token, key)
            token = token[len(key) + 1 :]
        return json.loads(token) if token.startswith('"') else token

    assert duration.endswith("ms")
    return {
        "method": value(method),
        "path": value(path),
        "status": int(status),
        "operation": value(operation, "op"),
        "site_id": value(site, "site"),
        "instance": value(instance, "instance"),
        "ua": value(ua, "ua"),
    }


def text_lines(records) -> list[str]:
    """The records as the service writes them with LOG_FORMAT=text."""
    stamp = RequestIdFilter()
    return [TextFormatter().format(record) for record in records if stamp.filter(record)]


def access_record(method: str, path: str, instance: str, ua: str) -> logging.LogRecord:
    """The record `log_access` writes for a request carrying these values."""
    request = SimpleNamespace(
        method=method,
        path=path,
        headers={"x-instance-id": instance, "user-agent": ua},
        ctx=SimpleNamespace(request_id="r-1", site_id=None),
    )
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("rakubun.access")
    level, logger.level = logger.level, logging.INFO
    logger.addHandler(handler)
    try:
        log_access(request, 200, "getHealth", 0.001)  # type: ignore[arg-type]
    finally:
        logger.removeHandler(handler)
        logger.level = level
    (record,) = records
    return record


@settings(max_examples=300, deadline=None)
@given(method=st.text(), path=st.text(), instance=st.text(), ua=st.text())
def test_an_access_line_is_one_printable_line_that_parses_back_to_its_fields(
    method, path, instance, ua
):
    record = access_record(method, path, instance, ua)

    (text,) = text_lines([record])
    assert text.isascii() and text.isprintable(), text
    prefix, message = text.split("]: ", 1)
    assert prefix.endswith("INFO rakubun.access [r-1")
    fields = parse_access_message(message)
    assert fields == {
        "method": method,
        "path": path,
        "status": 200,
        "operation": "getHealth",
        "site_id": "-",
        "instance": instance,
        "ua": ua,
    }

    line = JsonFormatter().format(record)
    assert line.isascii() and line.isprintable(), line
    decoded = json.loads(line)
    assert (decoded["path"], decoded["instance"], decoded["ua"]) == (path, instance, ua)
    assert decoded["message"] == message


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_no_text_log_line_carries_a_control_character(text):
    record = logging.LogRecord(
        "sanic.error", logging.ERROR, __file__, 1, "Bad URL: %s", (text,), None
    )
    (line,) = text_lines([record])
    assert "\n" not in line
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]", line)


async def raw_exchange(service, request: bytes) -> bytes:
    """Send `request` as it is on a socket to the service; the whole answer (it closes)."""
    host, port = service.url.rsplit("/", 1)[-1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), timeout=10)
    finally:
        writer.close()


FORGED = "a\x1b[2J\x1b[H op=x status=200 site=site_admin"


async def test_a_forged_instance_id_is_one_escaped_field_of_one_line(logged):
    service, caplog = logged
    caplog.clear()
    answer = await raw_exchange(
        service,
        b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        b"X-Instance-ID: " + FORGED.encode() + b"\r\nUser-Agent: x\x1b]0;pwned\x07\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 200 ")
    lines = text_lines(caplog.records)
    assert all("\x1b" not in line and "\n" not in line for line in lines), lines
    (access,) = [r for r in caplog.records if r.name == "rakubun.access"]
    (text,) = text_lines([access])
    fields = parse_access_message(text.split("]: ", 1)[1])
    assert fields["instance"] == FORGED and fields["ua"] == "x\x1b]0;pwned\x07"
    assert fields["site_id"] == "-" and fields["status"] == 200


@pytest.mark.parametrize(
    ("target", "logged_path"),
    [
        (b"/api/v1/health\x1b[31m", "/api/v1/health%1B[31m"),
        (b"/api/v1/health\x00", "/api/v1/health%00"),
        (b"/api/v1/health\x7f\x08", "/api/v1/health%7F%08"),
    ],
)
async def test_a_request_target_with_a_control_byte_is_400_logged_once_escaped(
    logged, target, logged_path
):
    service, caplog = logged
    caplog.set_level(logging.DEBUG, logger="sanic")
    caplog.clear()

    answer = await raw_exchange(
        service, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert json.loads(body) == {
        "success": False,
        "error": "invalid_request",
        "message": "The request could not be read",
    }
    assert [r.levelname for r in caplog.records if r.levelno >= logging.WARNING] == []
    (access,) = [r for r in caplog.records if r.name == "rakubun.access"]
    assert access.access["status"] == 400 and access.access["path"] == logged_path
    assert all(line.isprintable() for line in text_lines(caplog.records))


# ---------------------------------------------------------------- what writing a line costs
def test_an_access_record_has_every_field_a_stdlib_record_has():
    """`quick_record` skips the stdlib's stack walk, but any format (caplog's, a handler an
    operator adds) finds on it every attribute a `LogRecord` of the same logger carries."""
    record = access_record("GET", "/api/v1/health", "i-1", "ua")
    stdlib = logging.getLogger("rakubun.access").makeRecord(
        "rakubun.access", logging.INFO, __file__, 1, "%s", ("x",), None
    )
    assert set(vars(stdlib)) <= set(vars(record))
    assert (record.process, record.thread, record.levelname) == (
        os.getpid(),
        threading.get_ident(),
        "INFO",
    )
    assert abs(record.created - stdlib.created) < 5
    assert record.msecs == int(record.created * 1000) % 1000


@settings(max_examples=300, deadline=None)
@given(
    created=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    datefmt=st.sampled_from([None, "%Y-%m-%dT%H:%M:%S%z"]),
)
def test_the_time_of_a_line_reads_as_the_stdlib_writes_it(created, datefmt):
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.created, record.msecs = created, float(int(created * 1000) % 1000)
    for formatter in (TextFormatter(), JsonFormatter()):
        assert formatter.formatTime(record, datefmt) == logging.Formatter().formatTime(
            record, datefmt
        )


def test_the_log_writer_writes_the_lines_of_a_busy_moment_in_one_write(monkeypatch):
    """One write (one system call) per batch, not per line; no line lost or reordered."""
    writes: list[str] = []
    stream = SimpleNamespace(write=writes.append, flush=lambda: None)
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging(Settings.from_env({}))
        for n in range(200):
            logging.getLogger("rakubun.test").warning("line %d", n)
    finally:
        observability._stop_listener()
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = "".join(writes).splitlines()
    assert [line.rsplit(" ", 1)[1] for line in lines] == [str(n) for n in range(200)]
    assert len(writes) < 20
