"""Decode Stripe's form encoding (`a[b][0][c]=x`) into dicts and lists, and read typed values."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from .errors import invalid_request

_KEY_PART = re.compile(r"\[([^\]]*)\]")
_APPEND = ""  # `a[]=x` appends, as curl users write lists


def decode_form(text: str) -> dict[str, Any]:
    """Decode a urlencoded body or query string into nested Stripe parameters."""
    return decode_pairs(parse_qsl(text, keep_blank_values=True))


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build nested params from `(bracketed_key, value)` pairs, preserving order."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head, *_KEY_PART.findall("[" + rest)] if rest else [head]
        _assign(root, parts, value)
    return _listify(root)


def _assign(node: dict[str, Any], parts: list[str], value: str) -> None:
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == _APPEND:
            part = str(len(node))
        if last:
            node[part] = value
            return
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child


def _listify(value: Any) -> Any:
    # Dicts keyed only by indexes were lists on the wire: `line_items[0][...]`.
    if not isinstance(value, dict):
        return value
    items = {k: _listify(v) for k, v in value.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def reject_unknown(params: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Raise Stripe's 400 for a parameter the endpoint does not take."""
    known = {*allowed, "expand"}
    for key in params:
        if key not in known:
            raise invalid_request(f"Received unknown parameter: {key}", param=key)


def _given(params: Mapping[str, Any], key: str, *, required: bool = False) -> Any:
    """The parameter's raw value; None when it is absent or empty (Stripe's 400 if required)."""
    raw = params.get(key)
    if raw is None or raw == "":
        if required:
            raise invalid_request(f"Missing required param: {key}.", param=key)
        return None
    return raw


def get_int(params: Mapping[str, Any], key: str, *, required: bool = False) -> int | None:
    """Read an integer parameter (form values arrive as strings)."""
    raw = _given(params, key, required=required)
    if raw is None:
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise invalid_request(f"Invalid integer: {raw}", param=key) from None


def get_str(params: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    """Read a string parameter, rejecting nested values."""
    raw = _given(params, key, required=required)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise invalid_request(f"Invalid string: {raw!r}", param=key)
    return raw


def get_bool(params: Mapping[str, Any], key: str) -> bool:
    """Read a boolean parameter sent as "true"/"false"."""
    raw = _given(params, key)
    if raw is None:
        return False
    if raw in ("true", "false"):
        return raw == "true"
    raise invalid_request(f"Invalid boolean: {raw}", param=key)


def get_metadata(params: Mapping[str, Any], key: str = "metadata") -> dict[str, str]:
    """Read a `metadata[...]` hash; Stripe keeps keys and values as strings."""
    raw = params.get(key) or {}
    if isinstance(raw, list):  # `metadata[0]=x` was listified; keys are still strings to Stripe
        raw = {str(i): v for i, v in enumerate(raw)}
    if not isinstance(raw, dict):
        raise invalid_request("Invalid hash", param=key)
    return {str(k): str(v) for k, v in raw.items() if v != ""}


def get_list(params: Mapping[str, Any], key: str) -> list[Any]:
    """Read a list parameter (`key[0]=a&key[1]=b` or `key[]=a`)."""
    raw = params.get(key)
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        return raw
    if isinstance(raw, str):
        return [raw]
    raise invalid_request("Invalid array", param=key)
