"""How records map to SQLite rows: a table's columns are its record's dataclass fields, in order.

Invariant: a record written with `to_row` into `columns(type)` and read back with `from_row`
is the record it was; dict fields (metadata, config, meta) are JSON text in their column.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any, TypeVar

R = TypeVar("R")


#: Each record type's field names: they never change, and `fields` costs microseconds a call
#: (every ledger row written or read asks).
_NAMES: dict[type, tuple[str, ...]] = {}


def _names(record_type: type, leave: tuple[str, ...] = ()) -> tuple[str, ...]:
    names = _NAMES.get(record_type)
    if names is None:
        names = _NAMES[record_type] = tuple(f.name for f in fields(record_type))
    return tuple(name for name in names if name not in leave) if leave else names


def columns(record_type: type, *, leave: tuple[str, ...] = ()) -> str:
    """The column list of `record_type`'s table, but the fields in `leave`."""
    return ", ".join(_names(record_type, leave))


def slots(count: int) -> str:
    """`?,?,...`: `count` placeholders."""
    return ",".join("?" * count)


def to_row(record: Any, *json_fields: str) -> tuple[Any, ...]:
    """The record's values in column order, the `json_fields` as JSON text."""
    return tuple(
        json.dumps(value) if name in json_fields else value
        for name in _names(type(record))
        for value in (getattr(record, name),)
    )


def from_row(record_type: type[R], row: Any, *json_fields: str) -> R:
    """The record a row of `columns(record_type)` holds, parsing the `json_fields`."""
    names = _names(record_type)
    values = (json.loads(v) if n in json_fields else v for n, v in zip(names, row, strict=False))
    return record_type(*values)
