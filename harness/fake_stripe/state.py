"""The fake's memory: Stripe objects, events and idempotency records, optionally on disk."""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from collections.abc import Callable
from typing import Any

from . import objects
from .errors import resource_missing

STATE_FILE = "fake-stripe.json"

# Stripe's wording for "No such <noun>: 'id'" per object type.
_NOUNS = {"webhook_endpoint": "webhook endpoint", "payment_intent": "payment_intent"}
_KIND_BY_PREFIX = {
    "cs": "checkout.session",
    "pi": "payment_intent",
    "ch": "charge",
    "re": "refund",
    "dp": "dispute",
    "evt": "event",
    "we": "webhook_endpoint",
}
_PERSISTED = ("tables", "idempotency", "line_items", "webhook_secrets", "payment_intent_data")

EventListener = Callable[[dict[str, Any]], None]


def kind_of(object_id: str) -> str | None:
    """The object type an id belongs to, from its prefix (`pi_...` -> `payment_intent`)."""
    return _KIND_BY_PREFIX.get(object_id.split("_", 1)[0])


def subscribes(endpoint: dict[str, Any], event_type: str) -> bool:
    """Whether an enabled webhook endpoint wants events of `event_type` (`*` means all)."""
    if endpoint.get("status") != "enabled":
        return False
    wanted = endpoint.get("enabled_events") or []
    return "*" in wanted or event_type in wanted


class Store:
    """In-memory tables keyed by Stripe object type, saved to `data_dir` when given."""

    def __init__(self, data_dir: pathlib.Path | None = None) -> None:
        self.path = pathlib.Path(data_dir) / STATE_FILE if data_dir else None
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.line_items: dict[str, list[dict[str, Any]]] = {}  # checkout session id -> items
        self.webhook_secrets: dict[str, str] = {}  # endpoint id -> whsec_...
        # session id -> {"metadata", "description", "payment_intent"}: Stripe keeps these off
        # the session object, and makes the PaymentIntent only when the customer first pays.
        self.payment_intent_data: dict[str, dict[str, Any]] = {}
        self.listeners: list[EventListener] = []
        self.dirty = False
        if self.path and self.path.exists():
            self._load(self.path)

    def find(self, kind: str, object_id: str) -> dict[str, Any] | None:
        """Return the stored object or None."""
        return self.tables.get(kind, {}).get(object_id)

    def get(self, kind: str, object_id: str, *, param: str = "id") -> dict[str, Any]:
        """Return the stored object or raise Stripe's 404 `resource_missing`."""
        obj = self.find(kind, object_id)
        if obj is None:
            raise resource_missing(_NOUNS.get(kind, kind), object_id, param=param)
        return obj

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace an object (keyed by its `object` and `id`) and return it."""
        self.tables.setdefault(obj["object"], {})[obj["id"]] = obj
        self.dirty = True
        return obj

    def remove(self, kind: str, object_id: str) -> dict[str, Any]:
        """Delete and return an object, or raise 404."""
        obj = self.get(kind, object_id)
        del self.tables[kind][object_id]
        self.dirty = True
        return obj

    def newest_first(self, kind: str) -> list[dict[str, Any]]:
        """All objects of a type, newest first, as Stripe lists them."""
        return list(reversed(self.tables.get(kind, {}).values()))

    def count(self, kind: str) -> int:
        """How many objects of a type are stored."""
        return len(self.tables.get(kind, {}))

    def subscribed_endpoints(self, event_type: str) -> list[dict[str, Any]]:
        """Webhook endpoints that should receive an event of `event_type`."""
        endpoints = self.tables.get("webhook_endpoint", {}).values()
        return [e for e in endpoints if subscribes(e, event_type)]

    def emit(self, event_type: str, data_object: dict[str, Any]) -> dict[str, Any]:
        """Record an event about `data_object` and hand it to the listeners (webhooks)."""
        pending = len(self.subscribed_endpoints(event_type))
        event = self.put(objects.event(event_type, data_object, pending))
        for listener in self.listeners:
            listener(event)
        return event

    def expanded(self, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        """A copy of `obj` with id fields named by `expand[]` paths replaced by objects."""
        out = dict(obj)
        for path in paths:
            field, _, rest = path.partition(".")
            value = out.get(field)
            target = self.find(kind_of(value) or "", value) if isinstance(value, str) else None
            if target is not None:
                out[field] = self.expanded(target, [rest] if rest else [])
        return out

    def flush(self) -> None:
        """Write the state file if anything changed (temp file, then atomic replace)."""
        if not self.dirty or self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        snapshot = {name: getattr(self, name) for name in _PERSISTED}
        # mkstemp creates the file 0600, kept by the replace: it holds webhook endpoint secrets.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".fake-stripe.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(snapshot, f)
        os.replace(tmp, self.path)
        self.dirty = False

    def _load(self, path: pathlib.Path) -> None:
        snapshot = json.loads(path.read_text(encoding="utf-8"))
        for name in _PERSISTED:
            if name in snapshot:
                setattr(self, name, snapshot[name])
        # A key whose request never finished would answer 409 forever; forget it.
        self.idempotency = {k: v for k, v in self.idempotency.items() if v.get("status")}
