"""Request ids and the access log: every request gets an id (the caller's `X-Request-ID` when
it is short and plain, else a fresh one), every answer echoes it, every log line written while
the request runs carries it, and every request, failed ones included, ends in one access line.

Nothing here reads a header's value into a log line except the request id (checked against
a safe charset), the User-Agent and the instance id; tokens and secrets never appear.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import logging.handlers
import queue
import re
import secrets
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from .settings import Settings

REQUEST_ID_HEADER = "X-Request-ID"
#: What a caller's request id may be: 1 to 128 characters a log line cannot be forged with.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

#: The id of the request the current task is serving ("-" outside any request).
current_request_id: ContextVar[str] = ContextVar("request_id", default="-")

access_log = logging.getLogger("rakubun.access")

#: Told (operationId, status, seconds) of every answered request (the metrics).
RecordFn = Callable[[str, int, float], None]


#: Fresh ids: 16 random hex digits per process, then a 16-digit counter (32 hex digits, as a
#: uuid4's hex): unique without a system call per request.
_ID_PREFIX = secrets.token_hex(8)
_id_numbers = itertools.count(1)


def request_id_for(header: str | None) -> str:
    """The caller's id when it is plain and bounded, else a fresh one."""
    if header is not None and REQUEST_ID.fullmatch(header):
        return header
    return f"{_ID_PREFIX}{next(_id_numbers):016x}"


class RequestIdFilter(logging.Filter):
    """Stamps every record with the request id of the task that logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; an access line's fields are top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "pid": record.process,
        }
        line.update(getattr(record, "access", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class _DeferredQueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread as they are: formatting and writing happen there,
    off the event loop (the stdlib handler formats here, on the caller's thread)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


_listener: logging.handlers.QueueListener | None = None


def configure_logging(settings: Settings, level: str = "INFO") -> None:
    """One stderr handler on the root logger, in the format LOG_FORMAT names, written by a
    thread of its own: the event loop only stamps the request id and queues each record
    (each worker process calls this: Sanic's workers do not inherit the parent's logging)."""
    global _listener
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _DeferredQueueHandler):  # ours, from an earlier call
            root.removeHandler(handler)
    _stop_listener()
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(
        JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = _DeferredQueueHandler(records)
    handler.addFilter(RequestIdFilter())  # here: the request id lives in this task's context
    _listener = logging.handlers.QueueListener(records, writer)
    _listener.start()
    root.addHandler(handler)
    root.setLevel(level.upper())


@atexit.register
def _stop_listener() -> None:
    """Write what is queued, then end the writer thread (also at exit)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None


def install(app: Sanic, settings: Settings, record: RecordFn | None = None) -> None:
    """Request ids, the access line and `record(operation, status, seconds)` on every request,
    including those Sanic answers itself (404, 405, 413) and unexpected failures (500)."""

    async def start_request(request: Request) -> None:
        _begin(request)

    async def finish_request(request: Request, response: HTTPResponse) -> None:
        if not hasattr(request.ctx, "request_id"):
            _begin(request)  # Sanic refused it before the request middleware ran (e.g. 413)
        response.headers[REQUEST_ID_HEADER] = request.ctx.request_id
        seconds = time.perf_counter() - request.ctx.started
        operation = operation_of(request)
        if record is not None:
            record(operation, response.status, seconds)
        if settings.access_log:
            log_access(request, response.status, operation, seconds)

    # Outermost on both sides: the id exists before any other middleware and the access
    # line is written after every other one.
    app.on_request(start_request, priority=100)
    app.on_response(finish_request, priority=-100)


def _begin(request: Request) -> None:
    request.ctx.request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
    request.ctx.started = time.perf_counter()
    current_request_id.set(request.ctx.request_id)


def operation_of(request: Request) -> str:
    """The spec's operationId of the matched route, or `-` when nothing matched."""
    route = getattr(request, "route", None)
    name = getattr(route, "name", None) if route is not None else None
    return name.rsplit(".", 1)[-1] if name else "-"


def log_access(request: Request, status: int, operation: str, seconds: float) -> None:
    fields = {
        "method": request.method,
        "path": request.path,
        "operation": operation,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "site_id": getattr(request.ctx, "site_id", None) or "-",
        "instance": request.headers.get("x-instance-id", "-"),
        "ua": request.headers.get("user-agent", ""),
        "request_id": request.ctx.request_id,
    }
    access_log.info(
        "%s %s %s op=%s %.2fms site=%s instance=%s ua=%r",
        request.method,
        request.path,
        status,
        operation,
        fields["duration_ms"],
        fields["site_id"],
        fields["instance"],
        fields["ua"],
        extra={"access": fields, "request_id": request.ctx.request_id},
    )
