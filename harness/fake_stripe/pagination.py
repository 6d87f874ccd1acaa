"""Stripe list objects: `{"object": "list", "data", "has_more", "url"}` with cursors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import invalid_request, resource_missing
from .forms import get_int, get_str

LIST_PARAMS = ("limit", "starting_after", "ending_before")


def paginate(
    items: list[dict[str, Any]],
    params: dict[str, Any],
    url: str,
    render: Callable[[dict[str, Any]], dict[str, Any]] = lambda item: item,
) -> dict[str, Any]:
    """One page of `items` (already newest first) honouring limit/starting_after/ending_before."""
    limit = get_int(params, "limit")
    limit = 10 if limit is None else limit
    if not 1 <= limit <= 100:
        raise invalid_request("Invalid limit: must be between 1 and 100.", param="limit")
    ids = [item["id"] for item in items]
    after = get_str(params, "starting_after")
    before = get_str(params, "ending_before")
    if after is not None:
        items = items[_position(ids, after, "starting_after") + 1 :]
        page, has_more = items[:limit], len(items) > limit
    elif before is not None:
        items = items[: _position(ids, before, "ending_before")]
        page, has_more = items[-limit:], len(items) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": [render(i) for i in page], "has_more": has_more, "url": url}


def _position(ids: list[str], cursor: str, param: str) -> int:
    try:
        return ids.index(cursor)
    except ValueError:
        raise resource_missing("object", cursor, param=param) from None
