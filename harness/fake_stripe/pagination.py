"""Stripe list objects: `{"object": "list", "data", "has_more", "url"}` with cursors and filters.

Invariant: a list is filtered before it is paged, so cursors and `has_more` count only the
objects the filters keep; a filter names the params it takes, so an unknown one is a 400.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Protocol

from .errors import invalid_request, resource_missing
from .forms import get_int, get_list, get_str

LIST_PARAMS = ("limit", "starting_after", "ending_before")
_BOUNDS: dict[str, Callable[[int, int], bool]] = {
    "gt": lambda value, bound: value > bound,
    "gte": lambda value, bound: value >= bound,
    "lt": lambda value, bound: value < bound,
    "lte": lambda value, bound: value <= bound,
}

Test = Callable[[dict[str, Any]], bool]


class ListFilter(Protocol):
    """A list parameter that keeps some of the objects, declared on a resource."""

    @property
    def params(self) -> tuple[str, ...]:
        """The request params it reads."""
        ...

    def test(self, params: Mapping[str, Any]) -> Test | None:
        """What an object must satisfy to be listed; None when the request does not filter."""
        ...


@dataclass(frozen=True)
class FieldFilter:
    """A filter on one field of the objects, read from the param named like the field."""

    field: str

    @property
    def params(self) -> tuple[str, ...]:
        return (self.field,)


@dataclass(frozen=True)
class Equals(FieldFilter):
    """`?<field>=<id>`: objects whose `field` is that value (`?payment_intent=pi_...`)."""

    def test(self, params: Mapping[str, Any]) -> Test | None:
        wanted = get_str(params, self.field)
        return None if wanted is None else lambda obj: obj[self.field] == wanted


@dataclass(frozen=True)
class Matches(FieldFilter):
    """`?type=charge.*` and `?types[]=a&types[]=b`: objects whose `field` fits a pattern."""

    plural: str

    @property
    def params(self) -> tuple[str, ...]:
        return (self.field, self.plural)

    def test(self, params: Mapping[str, Any]) -> Test | None:
        patterns = {str(p) for p in get_list(params, self.plural)}
        one = get_str(params, self.field)
        if one is not None:
            patterns.add(one)
        if not patterns:
            return None
        return lambda obj: any(fnmatchcase(obj[self.field], p) for p in patterns)


@dataclass(frozen=True)
class Between(FieldFilter):
    """`?created=<t>` or `?created[gte]=<t>&created[lt]=<u>`: objects whose `field` is in range."""

    def test(self, params: Mapping[str, Any]) -> Test | None:
        raw = params.get(self.field)
        if raw is None or raw == "":
            return None
        bounds = raw if isinstance(raw, dict) else {"eq": raw}
        checks = [self._check(op, value) for op, value in bounds.items()]
        return lambda obj: all(check(obj[self.field]) for check in checks)

    def _check(self, op: str, raw: Any) -> Callable[[int], bool]:
        param = self.field if op == "eq" else f"{self.field}[{op}]"
        if op != "eq" and op not in _BOUNDS:
            raise invalid_request(f"Received unknown parameter: {param}", param=param)
        try:
            bound = int(raw)
        except (TypeError, ValueError):
            raise invalid_request(f"Invalid integer: {raw}", param=param) from None
        if op == "eq":
            return lambda value: value == bound
        return lambda value: _BOUNDS[op](value, bound)


def filtered(
    items: list[dict[str, Any]], filters: Iterable[ListFilter], params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The `items` every filter the request uses keeps, in their order."""
    for list_filter in filters:
        test = list_filter.test(params)
        if test is not None:
            items = [item for item in items if test(item)]
    return items


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
