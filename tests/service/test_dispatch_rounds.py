"""A dispatch round checks each URL once, before it sends anything, however many of its
deliveries go there; a refused URL fails each of its own deliveries with the refusal, and
the round's other deliveries go out. Nothing is sent anywhere but 127.0.0.1: the refused
site's address is checked, never connected to (and a connection to anywhere else would fail
the test before it is made)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.domain.plugin_webhooks import draft
from service.outbound.notify import WebhookDispatcher
from service.outbound.webhook_http import Target, WebhookClient
from service.settings import Settings
from service.store import SQLiteStore
from service.store.cached import CachedStore
from tests.store.builders import new_site
from tests.support.capture import CaptureServer


async def test_a_round_checks_each_url_once_and_a_refusal_fails_only_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect = WebhookClient._connect

    async def loopback_only(client: WebhookClient, target: Target) -> Any:
        assert target.host == "127.0.0.1", f"the test would have connected to {target.host}"
        return await connect(client, target)

    monkeypatch.setattr(WebhookClient, "_connect", loopback_only)
    capture = CaptureServer()
    url = await capture.start()
    inner = SQLiteStore(tmp_path / "s.sqlite3")
    await inner.open()
    store = CachedStore(inner)
    settings = Settings.from_env(
        {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "1", "WEBHOOK_LOOPBACK_ONLY": "1"}
    )
    dispatcher = WebhookDispatcher(store, settings)
    checked: list[str] = []
    check = dispatcher._checked_target

    async def counted(target: str) -> str | None:
        checked.append(target)
        return await check(target)

    dispatcher._checked_target = counted  # type: ignore[method-assign]
    try:
        here = await inner.create_site(new_site(site_url=url))
        elsewhere = await inner.create_site(new_site(site_url="http://10.0.0.5"))
        sent = [
            await inner.enqueue_webhook(draft(here, "test_webhook", {"n": n})) for n in range(3)
        ]
        refused = [
            await inner.enqueue_webhook(draft(elsewhere, "test_webhook", {"n": n}))
            for n in range(2)
        ]
        result = await dispatcher.deliver_due()
        assert (result.attempted, result.delivered) == (5, 3)
        assert sorted(checked) == sorted({sent[0].url, refused[0].url})
        assert len(capture.requests) == 3 and capture.connections <= 3
        for delivery in refused:
            stored = await inner.get_webhook_delivery(delivery.delivery_id)
            assert stored is not None and stored.status == "failed"
            assert stored.last_error is not None and stored.last_error.startswith("refused")
        for delivery in sent:
            stored = await inner.get_webhook_delivery(delivery.delivery_id)
            assert stored is not None and stored.status == "delivered"
    finally:
        await dispatcher.close()
        await inner.close()
        await capture.stop()
