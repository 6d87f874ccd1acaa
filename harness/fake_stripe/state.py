"""The fake's memory: Stripe objects, events and idempotency records, optionally on disk.

Invariant: every keyed read or write of a persisted collection goes through a `Table`, which
remembers the key; `flush()` journals those keys whose value changed (an object mutated in
place after `find()` included), so a request costs what it touched, not what is stored.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

from . import defaults, objects, resources
from .errors import resource_missing
from .journal import Journal, delete_line, put_line, read_records, write_snapshot
from .resources import WEBHOOK_ENDPOINT, Resource

STATE_FILE = "fake-stripe.jsonl"
LEGACY_STATE_FILE = "fake-stripe.json"  # one JSON snapshot, rewritten on every change

_SIDE_TABLES = ("idempotency", "line_items", "webhook_secrets", "payment_intent_data")
_OBJECTS = "tables/"  # collection name prefix of the object tables: "tables/payment_intent"

EventListener = Callable[[dict[str, Any]], None]


def subscribes(endpoint: dict[str, Any], event_type: str) -> bool:
    """Whether an enabled webhook endpoint wants events of `event_type` (`*` means all)."""
    if endpoint.get("status") != "enabled":
        return False
    wanted = endpoint.get("enabled_events") or []
    return "*" in wanted or event_type in wanted


class Table(dict[str, Any]):
    """A dict that remembers which keys were read or written since the last flush.

    A read counts because callers change what `find()` returned in place, then `put()` it
    or not; the flush compares what it serializes with what it saved last. `touched` keeps
    new keys in insertion order, so the journal replays them in the order lists show them.
    """

    def __init__(self, name: str, items: dict[str, Any] | None = None) -> None:
        super().__init__(items or {})
        self.name = name
        self.touched: dict[str, None] = {}

    def _touch(self, key: str) -> None:
        self.touched[key] = None

    def _touch_new(self, key: str) -> None:
        if super().__contains__(key):
            self.touched[key] = None
        else:
            self.touched.pop(key, None)
            self.touched[key] = None

    def __getitem__(self, key: str) -> Any:
        self._touch(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._touch(key)
        return super().get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self._touch_new(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._touch(key)
        super().__delitem__(key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._touch_new(key)
        return super().setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        self._touch(key)
        return super().pop(key, *default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


class StripeState:
    """In-memory tables keyed by Stripe object type, journaled to `data_dir` when given."""

    def __init__(self, data_dir: pathlib.Path | None = None) -> None:
        self.path = pathlib.Path(data_dir) / STATE_FILE if data_dir else None
        self.tables: dict[str, Table] = {}
        self.idempotency = Table("idempotency")
        self.line_items = Table("line_items")  # checkout session id -> items
        self.webhook_secrets = Table("webhook_secrets")  # endpoint id -> whsec_...
        # session id -> {"metadata", "description", "payment_intent"}: Stripe keeps these off
        # the session object, and makes the PaymentIntent only when the customer first pays.
        self.payment_intent_data = Table("payment_intent_data")
        self.listeners: list[EventListener] = []
        self.journal: Journal | None = None
        self._saved: dict[tuple[str, str], int] = {}  # (collection, key) -> hash of saved JSON
        self._recheck_all = False
        if self.path is not None:
            self._open(self.path)

    def find(self, resource: Resource, object_id: str) -> dict[str, Any] | None:
        """Return the stored object or None."""
        table = self.tables.get(resource.object)
        return None if table is None else table.get(object_id)

    def get(self, resource: Resource, object_id: str, *, param: str = "id") -> dict[str, Any]:
        """Return the stored object or raise Stripe's 404 `resource_missing`."""
        obj = self.find(resource, object_id)
        if obj is None:
            raise resource_missing(resource.noun, object_id, param=param)
        return obj

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace an object (keyed by its `object` and `id`) and return it."""
        self._table(obj["object"])[obj["id"]] = obj
        return obj

    def remove(self, resource: Resource, object_id: str) -> dict[str, Any]:
        """Delete and return an object, or raise 404."""
        obj = self.get(resource, object_id)
        del self.tables[resource.object][object_id]
        return obj

    def newest_first(self, resource: Resource) -> list[dict[str, Any]]:
        """All objects of a type, newest first, as Stripe lists them."""
        return list(reversed(self.tables.get(resource.object, {}).values()))

    def count(self, resource: Resource) -> int:
        """How many objects of a type are stored."""
        return len(self.tables.get(resource.object, {}))

    def subscribed_endpoints(self, event_type: str) -> list[dict[str, Any]]:
        """Webhook endpoints that should receive an event of `event_type`."""
        endpoints = self.tables.get(WEBHOOK_ENDPOINT.object, {}).values()
        return [e for e in endpoints if subscribes(e, event_type)]

    def emit(self, event_type: str, data_object: dict[str, Any]) -> dict[str, Any]:
        """Record an event about `data_object` and hand it to the listeners (webhooks)."""
        pending = len(self.subscribed_endpoints(event_type))
        event = self.put(objects.event(event_type, data_object, pending))
        for listener in self.listeners:
            listener(event)
        return event

    def expanded(self, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        """A copy of `obj` with the id fields that `expand[]` paths name replaced by objects.

        Only the fields its resource declares `expandable` are; others stay as they are.
        """
        out = dict(obj)
        resource = resources.BY_OBJECT.get(obj.get("object", ""))
        for path in paths:
            field, _, rest = path.partition(".")
            value = out.get(field)
            if resource is None or field not in resource.expandable or not isinstance(value, str):
                continue
            target_resource = resources.of_id(value)
            target = self.find(target_resource, value) if target_resource else None
            if target is not None:
                out[field] = self.expanded(target, [rest] if rest else [])
        return out

    @property
    def dirty(self) -> bool:
        """Whether a flush has anything to look at."""
        return self._recheck_all or any(t.touched for t in self._collections())

    @dirty.setter
    def dirty(self, value: bool) -> None:
        # For code that changed a value it reached by iterating: look at every key once.
        self._recheck_all = self._recheck_all or value

    def flush(self) -> None:
        """Journal every touched key whose value changed since it was last saved."""
        lines: list[str] = []
        for table in list(self._collections()):
            keys = list(table.touched)
            if self._recheck_all:
                keys = list(dict.keys(table)) + [k for k in keys if k not in table]
            table.touched = {}
            if self.path is None:
                continue
            for key in keys:
                line = self._change(table, key)
                if line is not None:
                    lines.append(line)
        self._recheck_all = False
        if lines and self.path is not None:
            if self.journal is None:
                self.journal = Journal(self.path)
            self.journal.append("".join(lines))

    async def synced(self) -> None:
        """Return once every flushed change is on disk (fsync, shared with other requests)."""
        if self.journal is not None:
            await self.journal.synced()

    async def close(self) -> None:
        """Flush, wait for the disk, and close the journal (a later flush reopens it)."""
        self.flush()
        if self.journal is not None:
            await self.journal.synced()
            self.journal.close()
            self.journal = None

    def _table(self, kind: str) -> Table:
        table = self.tables.get(kind)
        if table is None:
            table = self.tables[kind] = Table(_OBJECTS + kind)
        return table

    def _collections(self) -> Iterator[Table]:
        yield from self.tables.values()
        for name in _SIDE_TABLES:
            yield getattr(self, name)

    def _change(self, table: Table, key: str) -> str | None:
        slot = (table.name, key)
        if dict.__contains__(table, key):
            text = json.dumps(dict.__getitem__(table, key))
            digest = hash(text)
            if self._saved.get(slot) == digest:
                return None
            self._saved[slot] = digest
            return put_line(table.name, key, text)
        if self._saved.pop(slot, None) is not None:
            return delete_line(table.name, key)
        return None

    def _open(self, path: pathlib.Path) -> None:
        """Load the journal (or a legacy snapshot), then compact it to one line per value."""
        path.parent.mkdir(parents=True, exist_ok=True)
        legacy = path.with_name(LEGACY_STATE_FILE)
        if path.exists():
            for record in read_records(path):
                self._replay(record)
        elif legacy.exists():
            self._load_legacy(legacy)
        # A key whose request never finished would answer 409 forever; forget it.
        self.idempotency = Table(
            "idempotency", {k: v for k, v in self.idempotency.items() if v.get("status")}
        )
        write_snapshot(path, self._snapshot_lines())
        for table in self._collections():
            table.touched = {}

    def _replay(self, record: list[Any]) -> None:
        name, key = record[0], record[1]
        if name.startswith(_OBJECTS):
            table = self._table(name[len(_OBJECTS) :])
        elif name in _SIDE_TABLES:
            table = getattr(self, name)
        else:
            return
        if len(record) > 2:
            value = record[2]
            if name != "idempotency":  # saved by an older fake: add the fields added since
                value = defaults.fill_missing(value)
            table[key] = value
        else:
            table.pop(key, None)

    def _load_legacy(self, legacy: pathlib.Path) -> None:
        snapshot = json.loads(legacy.read_text(encoding="utf-8"))
        for kind, table in snapshot.get("tables", {}).items():
            self._table(kind).update(table)
        for name in _SIDE_TABLES:
            getattr(self, name).update(snapshot.get(name, {}))

    def _snapshot_lines(self) -> Iterator[str]:
        self._saved.clear()
        for table in self._collections():
            for key, value in dict.items(table):
                text = json.dumps(value)
                self._saved[(table.name, key)] = hash(text)
                yield put_line(table.name, key, text)
