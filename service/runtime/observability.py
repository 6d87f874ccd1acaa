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
import itertools
import json
import logging
import logging.handlers
import queue
import re
import secrets
import sys
from contextvars import ContextVar

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


class TextFormatter(logging.Formatter):
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


class JsonFormatter(logging.Formatter):
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


class _DeferredQueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread as they are: formatting and writing happen there,
    off the event loop (the stdlib handler formats here, on the caller's thread)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


class _LogWriter(logging.handlers.QueueListener):
    """The writer thread, a helper thread of the worker (see `cpu_affinity.helper_thread`)."""

    def _monitor(self) -> None:  # the thread's target in the stdlib (typeshed omits it)
        helper_thread()
        super()._monitor()  # type: ignore[misc]


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
    writer.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = _DeferredQueueHandler(records)
    handler.addFilter(RequestIdFilter())  # here: the request id lives in this task's context
    _listener = _LogWriter(records, writer)
    _listener.start()
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The SDK logs two INFO lines per Stripe call; the access line and the gateway's own
    # warnings say what matters, so its lines are kept for DEBUG.
    logging.getLogger("stripe").setLevel(
        logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    )


@atexit.register
def _stop_listener() -> None:
    """Write what is queued, then end the writer thread (also at exit)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
