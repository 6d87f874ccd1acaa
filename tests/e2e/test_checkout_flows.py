"""Hosted checkout through `rakubun-harness up`: paid, declined then paid, expired."""

from __future__ import annotations

import pytest

from .wordpress import assert_settled, checkout_ref

pytestmark = pytest.mark.e2e

FREE = {"article": 5, "image": 10, "rewrite": 3}


async def test_checkout_paid_grants_once_and_tells_wordpress(harness, wordpress):
    session_id = await wordpress.checkout("article_starter")

    await harness.stripe.pay(session_id)
    await harness.stripe.drain()
    status, body = await wordpress.verify(session_id)

    assert status == 200, body
    assert body["credits_added"] == 10 and body["credit_type"] == "article"
    assert (await wordpress.session_status(session_id))["status"] == "completed"
    await assert_settled(
        wordpress, payments={checkout_ref(session_id): 10}, credits={**FREE, "article": 15}
    )


async def test_checkout_declined_then_paid_grants_once(harness, wordpress):
    session_id = await wordpress.checkout("image_pro")

    await harness.stripe.pay(session_id, "declined")
    await harness.stripe.drain()
    declined_status, declined = await wordpress.verify(session_id)

    assert declined_status == 402, declined
    assert declined["error"] == "payment_not_completed"
    assert await wordpress.entries("purchase") == []
    assert await wordpress.credits() == FREE

    await harness.stripe.pay(session_id)
    await harness.stripe.drain()
    status, body = await wordpress.verify(session_id)

    assert status == 200, body
    assert body["credits_added"] == 100 and body["credit_type"] == "image"
    await assert_settled(
        wordpress, payments={checkout_ref(session_id): 100}, credits={**FREE, "image": 110}
    )


async def test_checkout_expired_grants_nothing(harness, wordpress):
    session_id = await wordpress.checkout("article_pro")

    await harness.stripe.pay(session_id, "expired")
    await harness.stripe.drain()
    status, body = await wordpress.verify(session_id)

    assert status == 402, body
    assert body["error"] == "payment_not_completed"
    assert (await wordpress.session_status(session_id))["status"] == "expired"
    assert await wordpress.entries("purchase") == []
    assert await wordpress.credits() == FREE
    assert (await harness.admin.flush_webhooks())["pending"] == 0
    assert await wordpress.delivered_credits_updated() == []
    assert (await harness.admin.reconcile())["ok"]
