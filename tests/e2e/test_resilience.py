"""Things going down: the plugin's webhook endpoint, and the service itself mid-purchase."""

from __future__ import annotations

import pytest

from .wordpress import assert_bought_once, settle

pytestmark = pytest.mark.e2e

COMPLETED = "checkout.session.completed"


async def test_plugin_endpoint_down_then_up_gets_its_webhook(harness, wordpress):
    await harness.plugin.sim("POST", "down")
    session_id = await wordpress.checkout("article_starter")
    await settle(harness, session_id)
    assert (await wordpress.verify(session_id))[0] == 200

    failed = await harness.admin.flush_webhooks()
    [delivery] = [
        d
        for d in await harness.admin.site_webhooks(wordpress.site_id)
        if d["event"] == "credits_updated"
    ]
    assert failed["delivered"] == 0 and failed["pending"] == 1, failed
    assert delivery["status"] == "pending" and delivery["attempts"] >= 1, delivery
    assert {a["status_code"] for a in delivery["attempt_log"]} == {503}, delivery
    assert await wordpress.delivered_credits_updated() == []

    await harness.plugin.sim("POST", "up")
    recovered = await harness.admin.flush_webhooks()

    assert recovered["pending"] == 0, recovered  # delivered by this flush (or a retry just before)
    [delivery] = [
        d
        for d in await harness.admin.site_webhooks(wordpress.site_id)
        if d["event"] == "credits_updated"
    ]
    assert delivery["status"] == "delivered", delivery
    assert delivery["attempt_log"][-1]["status_code"] == 200
    refused = [w for w in await harness.plugin.webhooks("credits_updated") if w["status"] == 503]
    assert len(refused) == delivery["attempts"] - 1
    await assert_bought_once(wordpress, session_id)


async def test_service_restarted_between_payment_and_webhook_grants_once(harness, wordpress):
    session_id = await wordpress.checkout("article_starter")
    await harness.stripe.faults(drop=1, event_type=COMPLETED)
    await settle(harness, session_id)
    assert await wordpress.entries("purchase") == []
    [event_id] = await harness.stripe.event_ids(COMPLETED)

    await harness.restart()  # same data dir: secrets, sites and Stripe objects persist

    await harness.stripe.resend(event_id)
    await harness.stripe.drain()
    [resent] = await harness.stripe.deliveries(event_id=event_id)  # the new fake's delivery log
    assert resent["status_code"] == 200, resent
    status, body = await wordpress.verify(session_id)
    assert status == 200 and body["status"] == "already_completed", body
    await harness.stripe.resend(event_id)  # Stripe retrying once more changes nothing
    await harness.stripe.drain()
    await assert_bought_once(wordpress, session_id)
