"""Webhook fault injection: what goes wrong with the next deliveries, and who consumes it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import invalid_request


@dataclass
class DeliveryFaults:
    """The faults one delivery (one event to one endpoint) was given."""

    dropped: bool = False
    extra_copies: int = 0
    delay: float = 0.0
    bad_signature: bool = False
    stale_timestamp: bool = False
    labels: list[str] = field(default_factory=list)

    def label(self, *more: str) -> str | None:
        """The `fault` recorded with an attempt: names joined by "+", or None."""
        names = [*more, *self.labels]
        return "+".join(names) if names else None


@dataclass
class Faults:
    """Pending faults. Each is used up by the next matching delivery; they combine freely.

    A delivery is one event sent to one endpoint. `event_type`, when set, makes only events
    of that type consume the faults (other events pass untouched).
    """

    duplicate: int = 0
    reverse_pairs: bool = False
    delay_ms: int = 0
    bad_signature: bool = False
    stale_timestamp: bool = False
    drop: int = 0
    event_type: str | None = None

    def update(self, changes: dict[str, Any]) -> None:
        """Set the faults named in `changes` (the control API's JSON), validating each."""
        names = {f.name for f in fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise invalid_request(f"Unknown fault: {key}", param=key)
            if key in ("duplicate", "delay_ms", "drop"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise invalid_request(f"{key} must be a non-negative integer", param=key)
            elif key == "event_type":
                if value is not None and not isinstance(value, str):
                    raise invalid_request("event_type must be a string or null", param=key)
            elif not isinstance(value, bool):
                raise invalid_request(f"{key} must be true or false", param=key)
            setattr(self, key, value)

    def clear(self) -> None:
        """Forget every pending fault."""
        for f in fields(self):
            setattr(self, f.name, f.default)

    def to_json(self) -> dict[str, Any]:
        """The pending faults as the control API shows them."""
        return asdict(self)

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether `event` may consume faults."""
        return self.event_type is None or event["type"] == self.event_type

    def take_reverse(self, event: dict[str, Any]) -> bool:
        """Use up `reverse_pairs` if set: True means hold this event behind the next one."""
        if self.reverse_pairs and self.matches(event):
            self.reverse_pairs = False
            return True
        return False

    def take_for_delivery(self, event: dict[str, Any]) -> DeliveryFaults:
        """Use up the faults that apply to the next delivery of `event`."""
        if not self.matches(event):
            return DeliveryFaults()
        if self.drop:
            self.drop -= 1
            return DeliveryFaults(dropped=True)
        taken = DeliveryFaults(
            extra_copies=self.duplicate,
            delay=self.delay_ms / 1000,
            bad_signature=self.bad_signature,
            stale_timestamp=self.stale_timestamp,
        )
        if self.delay_ms:
            taken.labels.append(f"delay_ms={self.delay_ms}")
        if self.bad_signature:
            taken.labels.append("bad_signature")
        if self.stale_timestamp:
            taken.labels.append("stale_timestamp")
        self.duplicate = self.delay_ms = 0
        self.bad_signature = self.stale_timestamp = False
        return taken
