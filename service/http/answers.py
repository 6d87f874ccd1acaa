"""Our JSON answers: Sanic's `JSONResponse`, with its headers put into bytes more cheaply.

Sanic encodes every header name and value through `str.translate`, which deletes CR, LF and NUL
so that no value can split the header block, a cost paid on every string of every answer
(`python -m bench --only credits` measures reads). Our headers almost never hold those
characters: `JsonAnswer` looks for them with three `in` tests per string and encodes the
headers as they are, and only where one is present hands the whole block to Sanic's own
sanitizing, so the bytes sent are always Sanic's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sanic.helpers import has_message_body
from sanic.response import JSONResponse


class JsonAnswer(JSONResponse):
    """A JSON answer whose header block Sanic writes exactly as it would its own."""

    __slots__ = ()

    @property
    def processed_headers(self) -> Iterator[tuple[bytes, bytes]]:
        if has_message_body(self.status):
            self.headers.setdefault("content-type", self.content_type)
        encoded = []
        for name, value in self.headers.items():
            text = value if value.__class__ is str else f"{value}"
            if _breaks_lines(name) or _breaks_lines(text):
                return super().processed_headers  # rare: Sanic deletes those characters
            encoded.append((name.encode("ascii"), text.encode(errors="surrogateescape")))
        return iter(encoded)


def _breaks_lines(text: str) -> bool:
    return "\r" in text or "\n" in text or "\0" in text


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JsonAnswer:
    """`body` as JSON (the app's encoder) with `status` and `headers`."""
    return JsonAnswer(body, status=status, headers=headers)
