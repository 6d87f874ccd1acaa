"""Request ids and log lines: every request gets an id (the caller's `X-Request-ID`
when it is short and plain, else a fresh one) and every log line written while the request
runs carries it. The pipeline (`service.http.pipeline`) gives each request its id, echoes it on
the answer and ends every request, failed ones included, in one access line.

Nothing reads a header's value into a log line except the request id (checked against a safe
charset), the User-Agent and the instance id; tokens and secrets never appear. A log line is
one line, whatever a client sends: the access line writes every client-supplied value as one
token (`log_value`), and no format writes a control character raw (`escape_controls`, JSON).
"""

from __future__ import annotations

import atexit
import functools
import itertools
import json
import logging
import logging.handlers
import os
import queue
import re
import secrets
import sys
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, NamedTuple

from ..settings import Settings
from .cpu_affinity import helper_thread

REQUEST_ID_HEADER = "X-Request-ID"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
#: What a caller's request id may be: 1 to 128 characters a log line cannot be forged with.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

#: The id of the request the current task is serving ("-" outside any request).
current_request_id: ContextVar[str] = ContextVar("request_id", default="-")


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


#: A value the access line writes as it is: printable ASCII but space, `"` and `\`.
_PLAIN_VALUE = re.compile(r"[!#-\[\]-~]+")


def log_value(value: str) -> str:
    """A client-supplied value as one token of a text log line: as it is when plain, else a
    JSON string (ASCII, every control and non-ASCII character escaped), so that no value can
    end the line, repaint a terminal or forge a ` key=value` field."""
    if _PLAIN_VALUE.fullmatch(value):
        return value
    return json.dumps(value)


#: What could end, break or repaint a line: C0 and C1 controls, DEL, the Unicode line and
#: paragraph separators, and lone surrogates (bytes that were not UTF-8).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character written as a `\\xNN` or `\\uNNNN` escape."""
    return (_CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL).sub(_escaped, text)


# ---------------------------------------------------------------- records, cheaply
@functools.lru_cache(maxsize=64)
def _shared_fields(name: str, level: int, pid: int, thread: int) -> dict[str, Any]:
    """What every record of logger `name` at `level` made on this thread shares (`pid` and
    `thread` key the cache: a forked process or another thread gets its own)."""
    record = logging.LogRecord(name, level, "", 0, "", None, None)
    fields = dict(record.__dict__)
    fields["_started"] = record.created - record.relativeCreated / 1000
    for moment in ("created", "msecs", "relativeCreated"):
        del fields[moment]
    return fields


def quick_record(
    logger: logging.Logger, level: int, msg: str, args: tuple[Any, ...], extra: Mapping[str, Any]
) -> logging.LogRecord:
    """The record `logger.log(level, msg, *args, extra=extra)` would make, but for the
    caller's file and line (no format of ours names them): the stdlib finds the caller by
    walking the stack and reads the thread's and process's names again on every record,
    which cost the event loop more than the rest of a read's access line."""
    shared = _shared_fields(logger.name, level, os.getpid(), threading.get_ident())
    record = logging.LogRecord.__new__(logging.LogRecord)
    fields = record.__dict__
    fields.update(shared)
    now = time.time_ns()
    created = now / 1e9
    fields["created"] = created
    fields["msecs"] = float(now % 1_000_000_000 // 1_000_000)
    fields["relativeCreated"] = (created - fields.pop("_started")) * 1000
    fields["msg"] = msg
    fields["args"] = args
    fields.update(extra)
    return record


# ---------------------------------------------------------------- the access line
ACCESS_LOGGER = "rakubun.access"
access_log = logging.getLogger(ACCESS_LOGGER)
#: The access line's text: method, path, status, operation, duration, site, instance, User-Agent.
ACCESS_LINE = "%s %s %s op=%s %.2fms site=%s instance=%s ua=%s"


class AccessLine(NamedTuple):
    """One request's access line as the values it names; formatted on the writer thread."""

    created_ns: int
    request_id: str
    method: str
    path: str
    status: int
    operation: str
    duration_ms: float
    site_id: str
    instance: str
    ua: str

    def moment(self) -> tuple[float, float]:
        """(`created`, `msecs`) as a `LogRecord` made at `created_ns` holds them."""
        return self.created_ns / 1e9, float(self.created_ns % 1_000_000_000 // 1_000_000)

    def message_args(self) -> tuple[Any, ...]:
        """`ACCESS_LINE`'s values: every value a client chose is one `log_value` token."""
        return (
            log_value(self.method),
            log_value(self.path),
            self.status,
            self.operation,
            self.duration_ms,
            self.site_id,
            log_value(self.instance),
            log_value(self.ua),
        )

    def fields(self) -> dict[str, Any]:
        """The line's fields as a JSON line's top-level keys (a record's `access`)."""
        return {
            "method": self.method,
            "path": self.path,
            "operation": self.operation,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "site_id": self.site_id,
            "instance": self.instance,
            "ua": self.ua,
            "request_id": self.request_id,
        }

    def record(self) -> logging.LogRecord:
        """The `rakubun.access` record of this line."""
        record = quick_record(
            access_log,
            logging.INFO,
            ACCESS_LINE,
            self.message_args(),
            {"access": self.fields(), "request_id": self.request_id},
        )
        record.created, record.msecs = self.moment()
        return record


def write_access_line(line: AccessLine) -> None:
    """Log `line` at INFO on `rakubun.access`. When our writer is the only handler that would
    see it (the running service: no other handler, filter or `propagate=False` in the way),
    the values go to the writer thread as they are, and the record, the handler chain and the
    formatting are not paid on the event loop; else (a test's capture, a handler an operator
    added) as any record."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    handler = _handler
    root = logging.root
    if (
        handler is not None
        and not access_log.handlers
        and not access_log.filters
        and access_log.propagate
        and len(root.handlers) == 1
        and root.handlers[0] is handler
        and not root.filters
        and handler.level <= logging.INFO
    ):
        handler.queue.put_nowait(line)
        return
    access_log.handle(line.record())


class _TimeBySecond(logging.Formatter):
    """`formatTime` computed once per second of the clock (each line of a busy second reads
    the same date and time; the milliseconds are added per record as the stdlib does)."""

    _second: tuple[int, str | None, str] | None = None

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return self.format_moment(record.created, record.msecs, datefmt)

    def format_moment(self, created: float, msecs: float, datefmt: str | None = None) -> str:
        second = int(created)
        cached = self._second
        if cached is None or cached[0] != second or cached[1] != datefmt:
            moment = self.converter(second)
            text = time.strftime(datefmt or self.default_time_format, moment)
            cached = self._second = (second, datefmt, text)
        if datefmt or not self.default_msec_format:
            return cached[2]
        return self.default_msec_format % (cached[2], msecs)


class TextFormatter(_TimeBySecond):
    """`TEXT_FORMAT`, one line per record but its traceback, no control character raw: a
    message (Sanic's, a plugin's error text) may carry any character a client sent."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        line = escape_controls(self.formatMessage(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + escape_controls(record.exc_text, keep_newlines=True)
        if record.stack_info:
            line += "\n" + escape_controls(self.formatStack(record.stack_info), keep_newlines=True)
        return line

    def format_access(self, line: AccessLine) -> str:
        """What `format` writes for `line.record()`, without making the record."""
        created, msecs = line.moment()
        text = (
            f"{self.format_moment(created, msecs, self.datefmt)} INFO {ACCESS_LOGGER}"
            f" [{line.request_id}]: {ACCESS_LINE % line.message_args()}"
        )
        return escape_controls(text)


class JsonFormatter(_TimeBySecond):
    """One JSON object per line, ASCII (every control and non-ASCII character escaped); an
    access line's fields are top-level keys."""

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
        return json.dumps(line, default=str)

    def format_access(self, access: AccessLine) -> str:
        """What `format` writes for `access.record()`, without making the record."""
        created, msecs = access.moment()
        line = {
            "time": self.format_moment(created, msecs, "%Y-%m-%dT%H:%M:%S%z"),
            "level": "INFO",
            "logger": ACCESS_LOGGER,
            "message": ACCESS_LINE % access.message_args(),
            "request_id": access.request_id,
            "pid": os.getpid(),
        }
        line.update(access.fields())
        return json.dumps(line, default=str)


class _DeferredQueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread as they are: formatting and writing happen there,
    off the event loop (the stdlib handler formats here, on the caller's thread)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


#: How long the writer thread lets records gather after the first one wakes it: one write and
#: one wake-up per batch, not per line (a line reaches the stream at most this much later).
GATHER_SECONDS = 0.02
#: The most records written in one batch.
BATCH_RECORDS = 512


class _BatchWriter(logging.StreamHandler):
    """Writes a batch of records to its stream in one call, then flushes once."""

    def write_all(self, records: list[logging.LogRecord | AccessLine]) -> None:
        lines = []
        format_access = self.formatter.format_access  # type: ignore[union-attr]
        for record in records:
            if type(record) is AccessLine:
                lines.append(format_access(record) + self.terminator)
                continue
            assert isinstance(record, logging.LogRecord)
            if record.levelno < self.level or not self.filter(record):
                continue
            try:
                lines.append(self.format(record) + self.terminator)
            except Exception:
                self.handleError(record)
        if not lines:
            return
        self.acquire()
        try:
            self.stream.write("".join(lines))
            self.flush()
        except Exception:
            last = records[-1]
            self.handleError(last if isinstance(last, logging.LogRecord) else last.record())
        finally:
            self.release()


class _LogWriter(logging.handlers.QueueListener):
    """The writer thread, a helper thread of the worker (see `cpu_affinity.helper_thread`):
    woken by a record, it lets more gather for `GATHER_SECONDS`, then writes them at once."""

    def __init__(self, records: queue.SimpleQueue[Any], writer: _BatchWriter) -> None:
        super().__init__(records, writer)
        self.records = records
        self.writer = writer

    def _monitor(self) -> None:  # the thread's target in the stdlib (typeshed omits it)
        helper_thread()
        records = self.records
        while True:
            batch = [records.get()]
            time.sleep(GATHER_SECONDS)
            while len(batch) < BATCH_RECORDS:
                try:
                    batch.append(records.get_nowait())
                except queue.Empty:
                    break
            ending = any(r is self._sentinel for r in batch)  # type: ignore[attr-defined]
            self.writer.write_all([r for r in batch if r is not self._sentinel])  # type: ignore[attr-defined]
            if ending:
                return


_listener: logging.handlers.QueueListener | None = None
#: Our handler on the root logger while `configure_logging` holds.
_handler: _DeferredQueueHandler | None = None


def configure_logging(settings: Settings, level: str = "INFO") -> None:
    """One stderr handler on the root logger, in the format LOG_FORMAT names, written in
    batches by a thread of its own: the event loop only stamps the request id and queues each
    record (each worker process calls this: Sanic's workers do not inherit the parent's logging)."""
    global _listener, _handler
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _DeferredQueueHandler):  # ours, from an earlier call
            root.removeHandler(handler)
    _stop_listener()
    writer = _BatchWriter(sys.stderr)
    writer.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = _DeferredQueueHandler(records)
    handler.addFilter(RequestIdFilter())  # here: the request id lives in this task's context
    _listener = _LogWriter(records, writer)
    _listener.start()
    root.addHandler(handler)
    _handler = handler
    root.setLevel(level.upper())
    # The SDK logs two INFO lines per Stripe call; the access line and the gateway's own
    # warnings say what matters, so its lines are kept for DEBUG.
    logging.getLogger("stripe").setLevel(
        logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    )


@atexit.register
def _stop_listener() -> None:
    """Write what is queued, then end the writer thread (also at exit)."""
    global _listener, _handler
    _handler = None
    if _listener is not None:
        _listener.stop()
        _listener = None
