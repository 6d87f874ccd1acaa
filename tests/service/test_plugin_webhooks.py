"""Webhooks to the plugin: from a durable outbox, signed exactly as the plugin verifies them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import replace
from typing import Any

from service.domain import plugin_webhooks
from service.domain.models import WebhookDelivery
from service.outbound.notify import LEASE_SECONDS, ClaimedAtBirth
from tests.support.stripe import StripeWorld


def plugin_verifies(raw_body: str, signature: str | None, secret: str) -> bool:
    """The plugin's check: hex HMAC-SHA256 of the raw body with the site's webhook secret."""
    expected = hmac.new(secret.encode(), raw_body.encode(), hashlib.sha256).hexdigest()
    return signature is not None and hmac.compare_digest(expected, signature)


async def test_a_purchase_sends_a_signed_credits_updated_with_the_user_email(make_world):
    world: StripeWorld = await make_world(webhook_dispatch=False)
    session_id = await world.checkout()
    await world.pay(session_id)
    await world.fake.drain()

    flushed = await world.flush_webhooks()
    received = world.wordpress.inbox.select(event="credits_updated")

    assert flushed["delivered"] == 1
    assert len(received) == 1
    webhook = received[0]
    assert webhook.status == 200 and webhook.signature_valid
    assert plugin_verifies(webhook.raw_body, webhook.signature, world.site.webhook_secret)
    data = json.loads(webhook.raw_body)["data"]
    assert data["user_email"] == "editor@example.com"
    assert data["credit_type"] == "article" and data["credits"] == 15


async def test_every_outbound_webhook_verifies_with_the_plugins_algorithm(world: StripeWorld):
    await world.site.post(
        "/users/deduct-credits",
        json={
            "user_id": 1,
            "user_email": "editor@example.com",
            "credit_type": "article",
            "amount": 1,
        },
    )
    admin = world.service.admin_headers()
    base = f"{world.service.url}/api/v1/admin/sites/{world.site.site_id}"
    await world.http.post(f"{base}/webhooks/test", headers=admin)
    await world.http.post(f"{base}/disable", headers=admin, json={"reason": "audit"})
    await world.http.post(f"{base}/enable", headers=admin)

    received = await world.wordpress.inbox.wait_for(count=4, timeout=10)
    events = [w.event for w in received]

    assert sorted(events) == sorted(
        ["credits_updated", "test_webhook", "plugin_disabled", "plugin_enabled"]
    )
    assert all(
        plugin_verifies(w.raw_body, w.signature, world.site.webhook_secret) for w in received
    )
    assert all(w.status == 200 for w in received)


async def test_a_plugin_that_is_down_gets_its_webhook_after_it_comes_back(make_world):
    world: StripeWorld = await make_world(
        webhook_dispatch=False, webhook_retry_delays=(3600.0, 3600.0)
    )
    world.wordpress.webhooks_down = True
    session_id = await world.checkout()
    await world.pay(session_id)
    await world.fake.drain()

    first = await world.flush_webhooks()
    world.wordpress.webhooks_down = False
    second = await world.flush_webhooks()

    assert (first["attempted"], first["delivered"], first["pending"]) == (1, 0, 1)
    assert (second["delivered"], second["pending"]) == (1, 0)
    deliveries = await world.service.store.list_webhook_deliveries(world.site.site_id)
    assert [a.status_code for a in deliveries[0].attempt_log] == [503, 200]
    assert all(w.signature_valid for w in world.wordpress.inbox.select(event="credits_updated"))


async def test_a_pending_webhook_survives_a_service_restart(make_world, make_service):
    world: StripeWorld = await make_world(webhook_dispatch=False, webhook_retry_delays=(3600.0,))
    world.wordpress.webhooks_down = True
    session_id = await world.checkout()
    await world.pay(session_id)
    await world.fake.drain()
    await world.flush_webhooks()
    await world.service.stop()

    restarted = await make_service(
        sqlite_path=world.service.settings.sqlite_path, webhook_dispatch=False
    )
    world.wordpress.webhooks_down = False
    response = await restarted.http.post(
        f"{restarted.url}/api/v1/admin/webhooks/flush", headers=restarted.admin_headers()
    )

    assert response.json()["delivered"] == 1
    accepted = [w for w in world.wordpress.inbox.select(event="credits_updated") if w.status == 200]
    assert len(accepted) == 1 and accepted[0].signature_valid


async def test_a_delivery_that_failed_for_good_can_be_retried_by_an_admin(make_world):
    world: StripeWorld = await make_world(webhook_dispatch=False, webhook_retry_delays=())
    world.wordpress.webhooks_down = True
    await world.http.post(
        f"{world.service.url}/api/v1/admin/sites/{world.site.site_id}/webhooks/test",
        headers=world.service.admin_headers(),
    )
    await world.flush_webhooks()
    [failed] = await world.service.store.list_webhook_deliveries(world.site.site_id)
    assert failed.status == "failed"

    world.wordpress.webhooks_down = False
    retried = await world.http.post(
        f"{world.service.url}/api/v1/admin/webhooks/{failed.delivery_id}/retry",
        headers=world.service.admin_headers(),
    )
    flushed = await world.flush_webhooks()

    assert retried.json()["delivery"]["status"] == "pending"
    assert flushed["delivered"] == 1
    [delivered] = await world.service.store.list_webhook_deliveries(world.site.site_id)
    assert delivered.status == "delivered" and delivered.attempts == 2


async def test_the_background_dispatcher_delivers_without_being_asked(world: StripeWorld):
    session_id = await world.checkout()
    await world.pay(session_id)
    await world.fake.drain()

    received = await world.wordpress.inbox.wait_for(event="credits_updated", count=1, timeout=10)

    assert len(received) == 1 and received[0].signature_valid


async def test_two_dispatchers_never_send_the_same_attempt_twice(make_world, make_service):
    world: StripeWorld = await make_world(webhook_dispatch=False)
    second = await make_service(
        sqlite_path=world.service.settings.sqlite_path, webhook_dispatch=False
    )
    for _ in range(10):
        await world.http.post(
            f"{world.service.url}/api/v1/admin/sites/{world.site.site_id}/webhooks/test",
            headers=world.service.admin_headers(),
        )

    results = await asyncio.gather(
        world.service.services.dispatcher.deliver_due(), second.services.dispatcher.deliver_due()
    )

    assert sum(r.delivered for r in results) == 10
    assert len(world.wordpress.inbox.select(event="test_webhook")) == 10


async def test_a_purchase_without_an_email_uses_the_users_stored_email(make_world):
    world: StripeWorld = await make_world(webhook_dispatch=False)
    await world.site.get(
        "/users/credits", params={"user_id": "3", "user_email": "stored@example.com"}
    )
    session_id = await world.checkout(user_id=3, user_email="")
    await world.pay(session_id)
    await world.fake.drain()
    await world.flush_webhooks()

    [webhook] = world.wordpress.inbox.select(event="credits_updated")
    assert json.loads(webhook.raw_body)["data"]["user_email"] == "stored@example.com"


async def test_a_user_without_any_email_gets_no_webhook_that_could_never_succeed(make_world):
    world: StripeWorld = await make_world(webhook_dispatch=False)
    response = await world.site.post(
        "/users/deduct-credits", json={"user_id": 4, "credit_type": "article", "amount": 1}
    )
    assert response.status_code == 200
    assert await world.service.store.list_webhook_deliveries(world.site.site_id) == []


# ---------------------------------------------------------------- claimed at birth
DEDUCTION = {"user_id": 5, "user_email": "five@example.com", "credit_type": "article", "amount": 1}


def spy_on_claims(dispatcher: Any, monkeypatch: Any) -> list[str]:
    """The ids of every delivery the dispatcher claims from the store from now on."""
    claimed: list[str] = []
    claim_from_store = dispatcher.store.claim_due_webhooks

    async def claim_due_webhooks(*args: Any, **kwargs: Any) -> list[WebhookDelivery]:
        batch = await claim_from_store(*args, **kwargs)
        claimed.extend(d.delivery_id for d in batch)
        return batch

    monkeypatch.setattr(dispatcher.store, "claim_due_webhooks", claim_due_webhooks)
    return claimed


async def deduct_and_receive(world: StripeWorld) -> tuple[Any, str, WebhookDelivery]:
    """Deduct through the API; the webhook the plugin received, its delivery id, and its
    outbox row once the round that sent it recorded it."""
    response = await world.site.post("/users/deduct-credits", json=DEDUCTION)
    assert response.status_code == 200, response.text
    [webhook] = await world.wordpress.inbox.wait_for(event="credits_updated", count=1, timeout=10)
    await world.service.services.dispatcher.deliver_due()  # waits for that round's record
    delivery_id = {k.lower(): v for k, v in webhook.headers.items()}["x-rakubun-delivery"]
    [stored] = await world.store.list_webhook_deliveries(world.site.site_id)
    return webhook, delivery_id, stored


async def test_a_deductions_webhook_goes_out_without_ever_being_claimed(
    world: StripeWorld, monkeypatch
):
    """Its row is written leased to the worker's dispatcher, which delivers it from memory."""
    dispatcher = world.service.services.dispatcher
    claimed = spy_on_claims(dispatcher, monkeypatch)
    webhook, delivery_id, stored = await deduct_and_receive(world)

    assert webhook.signature_valid and webhook.status == 200
    assert webhook.data["remaining_credits"]["article_credits"] == 4
    assert (stored.delivery_id, stored.status, stored.attempts) == (delivery_id, "delivered", 1)
    assert delivery_id not in claimed


async def test_a_round_that_fails_before_sending_keeps_its_webhooks_claimed_at_birth(
    world: StripeWorld, monkeypatch, caplog
):
    """They go out in the next round, not after their leases end (a minute later)."""
    dispatcher = world.service.services.dispatcher
    claimed = spy_on_claims(dispatcher, monkeypatch)
    read_site = dispatcher.store.get_site
    failures = [ConnectionError("the store went away for a moment")]

    async def get_site(site_id: str) -> Any:
        if failures:
            raise failures.pop()
        return await read_site(site_id)

    monkeypatch.setattr(dispatcher.store, "get_site", get_site)
    webhook, delivery_id, stored = await deduct_and_receive(world)

    assert failures == [] and "webhook dispatch round failed" in caplog.text
    assert (stored.delivery_id, stored.status, stored.attempts) == (delivery_id, "delivered", 1)
    assert delivery_id not in claimed


async def test_one_that_waited_past_half_its_lease_is_left_to_a_claim(world: StripeWorld, caplog):
    """Another dispatcher may claim it once the lease ends: it is not sent from memory."""
    dispatcher = world.service.services.dispatcher
    store = world.store
    site = await store.get_site(world.site.site_id)
    await store.ensure_user(site.site_id, "6", "six@example.com", {"article": 3})
    notify = dispatcher.claiming(
        plugin_webhooks.credits_updated(site, user_email="six@example.com", reason="deduction")
    )
    assert isinstance(notify, ClaimedAtBirth)
    assert (await store.deduct(site.site_id, "6", "article", 1, notify=notify)).ok
    assert notify.draft is not None and notify.draft.lease_until is not None
    waited = notify.draft.lease_until - LEASE_SECONDS / 2 - 1  # as if it had waited that long
    notify.draft = replace(notify.draft, lease_until=waited)

    dispatcher.deliver_claimed(notify)
    flushed = await dispatcher.deliver_due()  # after the background round, if it ran first

    assert world.wordpress.inbox.select(event="credits_updated") == []
    assert flushed.attempted == 0
    [pending] = await store.list_webhook_deliveries(site.site_id)
    assert (pending.delivery_id, pending.status, pending.attempts) == (
        notify.delivery_id,
        "pending",
        0,
    )
    assert "waited past half its lease" in caplog.text
    claim = dict(lease_seconds=30.0, limit=10, include_scheduled=True)
    assert await store.claim_due_webhooks("other", now=time.time() + 1, **claim) == []
    [later] = await store.claim_due_webhooks("other", now=time.time() + LEASE_SECONDS + 1, **claim)
    assert later.delivery_id == notify.delivery_id


async def test_without_a_running_dispatcher_a_deductions_webhook_waits_for_a_claim(make_world):
    world: StripeWorld = await make_world(webhook_dispatch=False)
    dispatcher = world.service.services.dispatcher
    site = await world.store.get_site(world.site.site_id)
    notify = plugin_webhooks.credits_updated(site, user_email=None, reason="deduction")

    response = await world.site.post("/users/deduct-credits", json=DEDUCTION)
    flushed = await world.flush_webhooks()

    assert response.status_code == 200, response.text
    assert dispatcher.claiming(notify) is notify
    assert (flushed["attempted"], flushed["delivered"]) == (1, 1)
