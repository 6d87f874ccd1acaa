"""Every webhook the WordPress stand-in received, in arrival order, with a way to wait for more."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ReceivedWebhook:
    """One POST to admin-ajax.php?action=rakubun_webhook and what the stand-in answered."""

    seq: int
    event: str | None
    data: Any
    raw_body: str
    headers: dict[str, str]
    signature: str | None
    signature_valid: bool
    status: int
    answer: Any
    received_at: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class WebhookInbox:
    """An append-only list; `seq` numbers start at 1 and never repeat, even after clear()."""

    def __init__(self) -> None:
        self._webhooks: list[ReceivedWebhook] = []
        self._last_seq = 0
        self._arrival = asyncio.Event()
        # Called with each webhook as it arrives (`rakubun-harness up` prints them live).
        self.observers: list[Callable[[ReceivedWebhook], None]] = []

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def next_seq(self) -> int:
        self._last_seq += 1
        return self._last_seq

    def add(self, webhook: ReceivedWebhook) -> None:
        """Store a webhook and wake everyone waiting for one."""
        self._webhooks.append(webhook)
        self._arrival.set()
        self._arrival = asyncio.Event()
        for observer in self.observers:
            observer(webhook)

    def clear(self) -> None:
        self._webhooks.clear()

    def select(self, *, event: str | None = None, after: int = 0) -> list[ReceivedWebhook]:
        """The webhooks with seq > `after`, of one event name if given."""
        return [
            webhook
            for webhook in self._webhooks
            if webhook.seq > after and (event is None or webhook.event == event)
        ]

    async def wait_for(
        self, *, event: str | None = None, after: int = 0, count: int = 1, timeout: float
    ) -> list[ReceivedWebhook]:
        """Wait until `count` matching webhooks exist (or `timeout` passes); return the matches."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.select(event=event, after=after)) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._arrival.wait(), remaining)
            except TimeoutError:
                break
        return self.select(event=event, after=after)
