"""What the harness commands print: plain lines, flushed at once."""

from __future__ import annotations

import json
import time
from typing import Any


def say(line: str = "") -> None:
    """Print one line now, so a reader of a pipe sees it before the next step."""
    print(line, flush=True)


def report(step: str, detail: str) -> None:
    """One passed step of `buy` or `trigger`."""
    say(f"  ok  {step:<22} {detail}")


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
    return [sent, f"{when}  <--  {answered} POST {attempt['url']} {event}"]


def plugin_delivery_lines(event: str | None, status: int, url: str,
                          signature_valid: bool) -> list[str]:
    """One service → plugin webhook as the plugin simulator received and answered it."""
    when = _clock()
    name = event or "(unreadable body)"
    bad = "" if signature_valid else " (invalid signature)"
    return [f"{when}   --> plugin {name}{bad}", f"{when}  <--  [{status}] POST {url}"]
