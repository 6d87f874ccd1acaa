"""What the harness commands print: plain lines, flushed at once, or one JSON object (--json).

With --json, `buy` and `trigger` keep stdout for a single JSON document for scripts; the
lines a person reads go to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Transcript:
    """What a --json run reports: each passed step and the facts a script needs."""

    steps: list[dict[str, str]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def document(
        self, *, ok: bool, failed_at: str | None = None, error: str | None = None
    ) -> dict[str, Any]:
        failure = {} if ok else {"failed_at": failed_at, "error": error}
        return {"ok": ok, **failure, **self.facts, "steps": self.steps}


_transcript: ContextVar[Transcript | None] = ContextVar("harness_transcript", default=None)


@contextmanager
def json_transcript(enabled: bool) -> Iterator[Transcript | None]:
    """While active (and `enabled`), lines go to stderr and steps and facts are collected."""
    transcript = Transcript() if enabled else None
    token = _transcript.set(transcript)
    try:
        yield transcript
    finally:
        _transcript.reset(token)


def emit_json(document: dict[str, Any]) -> None:
    print(json.dumps(document, ensure_ascii=False, default=str), flush=True)


def say(line: str = "") -> None:
    """Print one line now, so a reader of a pipe sees it before the next step."""
    print(line, flush=True, file=sys.stderr if _transcript.get() is not None else sys.stdout)


def report(step: str, detail: str) -> None:
    """One passed step of `buy` or `trigger`."""
    say(f"  ok  {step:<22} {detail}")
    transcript = _transcript.get()
    if transcript is not None:
        transcript.steps.append({"step": step, "detail": detail})


def note(**facts: Any) -> None:
    """Facts for the --json document (ids, balances); nothing is printed."""
    transcript = _transcript.get()
    if transcript is not None:
        transcript.facts.update(facts)


def short(value: Any, limit: int = 400) -> str:
    """A string or JSON value cut to `limit` characters for a one-line message."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


def _clock(at: float | None = None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def stripe_delivery_lines(attempt: dict[str, Any]) -> list[str]:
    """One fake Stripe webhook attempt, the way `stripe listen` prints a forwarded event."""
    when = _clock(attempt.get("at"))
    event = f"[{attempt['event_id']}]"
    fault = f" ({attempt['fault']})" if attempt.get("fault") else ""
    retry = f" (attempt {attempt['attempt']})" if attempt.get("attempt", 1) > 1 else ""
    sent = f"{when}   --> {attempt['type']} {event}{retry}{fault}"
    if attempt.get("fault") == "dropped":
        return [sent]
    status = attempt.get("status_code")
    answered = f"[{status}]" if status is not None else "[ERR]"
    reason = f" ({attempt['error']})" if status is None and attempt.get("error") else ""
    return [sent, f"{when}  <--  {answered} POST {attempt['url']} {event}{reason}"]


def plugin_delivery_lines(
    event: str | None, status: int, url: str, signature_valid: bool
) -> list[str]:
    """One service → plugin webhook as the plugin simulator received and answered it."""
    when = _clock()
    name = event or "(unreadable body)"
    bad = "" if signature_valid else " (invalid signature)"
    return [f"{when}   --> plugin {name}{bad}", f"{when}  <--  [{status}] POST {url}"]
