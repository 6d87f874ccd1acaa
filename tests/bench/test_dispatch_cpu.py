"""`python -m bench.dispatch_cpu`: both ways remove each deduction's credit once and deliver each
webhook once, to a sink on 127.0.0.1; only the old way claims them from the store. Nothing here
is timed."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from bench.dispatch_cpu import WAYS, cpu_per_deduction, sink
from service.domain.models import WebhookDelivery
from service.store import SQLiteStore


@pytest.mark.parametrize("way", WAYS)
async def test_each_way_delivers_every_webhook_once(way: str) -> None:
    claimed: list[WebhookDelivery] = []
    claim_from_store = SQLiteStore.claim_due_webhooks

    async def claim_due_webhooks(self: SQLiteStore, *args: Any, **kwargs: Any) -> Any:
        batch = await claim_from_store(self, *args, **kwargs)
        claimed.extend(batch)
        return batch

    with sink() as url, mock.patch.object(SQLiteStore, "claim_due_webhooks", claim_due_webhooks):
        cpu, removed, delivered = await cpu_per_deduction(url, 120, 20, 8, way=way)

    assert (removed, delivered) == (120, 120)
    assert cpu > 0
    assert len(claimed) == (0 if way == "claimed at birth" else 120)
    assert len({d.delivery_id for d in claimed}) == len(claimed)
