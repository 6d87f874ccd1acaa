"""Whole numbers from JSON bodies: JSON Schema counts `2.0` and `2e0` as integers and Python's
json reads them as floats, so a count of credits or money the schema passed is made an `int`
here before it reaches the store, the ledger or an answer."""

from __future__ import annotations

from typing import Any

#: Body fields the schema types as integers that the service stores or answers as counts.
WHOLE_FIELDS = ("amount", "credits", "price", "sort_order")


def whole(value: int | float) -> int:
    """A number the schema validated as an integer, as an `int`; ValueError for a fraction."""
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    return value


def whole_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The body with its `WHOLE_FIELDS` made `int` (the others as they are)."""
    return {
        name: whole(value) if name in WHOLE_FIELDS and isinstance(value, float) else value
        for name, value in body.items()
    }
