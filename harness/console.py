"""What the harness commands print: plain lines, flushed at once."""

from __future__ import annotations

import json
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
