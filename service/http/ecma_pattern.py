"""The spec's `pattern`s as ECMA-262 reads them, for Python's `re`.

JSON Schema's patterns are ECMA-262 regular expressions; Python's `re` reads the same text
differently: `$` also matches before a final newline (so `^[a-z]+$` accepts `"jpy\\n"`), and
`\\d`, `\\w`, `\\b` and `\\s` take in Unicode. `ecma_regex` compiles a pattern so that it means
what ECMA-262 says, and the compiled validator (jsonschema-rs) already reads it that way.
Where the engines could only disagree (`.`, `[]`, `[^]`, `\\S` inside a class, the anchors
`\\A` `\\Z` `\\z` that ECMA-262 lacks), the pattern is refused: the spec spells out what it
means instead.
"""

from __future__ import annotations

import functools
import re

#: ECMA-262's WhiteSpace and LineTerminator code points: what `\s` matches there.
ECMA_WHITESPACE = (
    "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
)

#: What the translation writes for each escape it changes, outside and inside a class.
_OUTSIDE = {"s": f"[{ECMA_WHITESPACE}]", "S": f"[^{ECMA_WHITESPACE}]"}
_INSIDE = {"s": ECMA_WHITESPACE}
#: Anchors in Python or Rust, plain letters in ECMA-262.
_FOREIGN_ANCHORS = frozenset("AZz")


class PatternError(ValueError):
    """A pattern the service cannot give one meaning in every validator it runs."""


@functools.lru_cache(maxsize=256)
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled for Python with ECMA-262's meaning (no flags): `$` is the end of the
    string, `\\d` `\\w` `\\b` are ASCII (`re.ASCII`), `\\s` is ECMA's whitespace. Use it with
    `.search`, as JSON Schema does: a pattern is not anchored unless it says so."""
    try:
        return re.compile(python_pattern(pattern), re.ASCII)
    except re.error as exc:
        raise PatternError(f"{pattern!r} is not a regular expression: {exc}") from exc


def python_pattern(pattern: str) -> str:
    """The text of `pattern` rewritten for Python's `re` (to compile with `re.ASCII`)."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            table = _INSIDE if in_class else _OUTSIDE
            if in_class and escaped == "S":
                raise PatternError(f"{pattern!r}: write the set `\\S` stands for inside [...]")
            if escaped in _FOREIGN_ANCHORS:
                raise PatternError(f"{pattern!r}: `\\{escaped}` is no anchor in ECMA-262")
            out.append(table.get(escaped, char + escaped))
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            # A `]` right after `[` or `[^` ends an ECMA class but is a member in Python.
            if pattern.startswith(("[]", "[^]"), i):
                raise PatternError(f"{pattern!r}: `[]` and `[^]` read differently per engine")
            in_class = True
        elif char == "$":
            char = r"\Z"  # Python's `$` also matches before a final newline; ECMA's does not
        elif char == ".":
            raise PatternError(f"{pattern!r}: `.` differs per engine; write the set it means")
        out.append(char)
        i += 1
    return "".join(out)
