"""Hosted checkout through `rakubun-harness up`: paid, declined then paid, expired."""

from __future__ import annotations

import pytest

from .wordpress import FREE, assert_bought_once, settle

pytestmark = pytest.mark.e2e


async def assert_verify_grants_nothing(wordpress, session_id: str) -> None:
    """The plugin's verify of an unpaid session answers 402 and no credit moves."""
    status, body = await wordpress.verify(session_id)
    assert status == 402, body
    assert body["error"] == "payment_not_completed"
    assert await wordpress.entries("purchase") == []
    assert await wordpress.credits() == FREE


async def test_checkout_paid_grants_once_and_tells_wordpress(harness, wordpress):
    session_id = await wordpress.checkout("article_starter")

    await settle(harness, session_id)
    status, body = await wordpress.verify(session_id)

    assert status == 200, body
    assert body["credits_added"] == 10 and body["credit_type"] == "article"
    assert (await wordpress.session_status(session_id))["status"] == "completed"
    await assert_bought_once(wordpress, session_id)


async def test_checkout_declined_then_paid_grants_once(harness, wordpress):
    session_id = await wordpress.checkout("image_pro")

    await settle(harness, session_id, "declined")

    await assert_verify_grants_nothing(wordpress, session_id)

    await settle(harness, session_id)
    status, body = await wordpress.verify(session_id)

    assert status == 200, body
    assert body["credits_added"] == 100 and body["credit_type"] == "image"
    await assert_bought_once(wordpress, session_id, "image", 100)


async def test_checkout_expired_grants_nothing(harness, wordpress):
    session_id = await wordpress.checkout("article_pro")

    await settle(harness, session_id, "expired")

    await assert_verify_grants_nothing(wordpress, session_id)
    assert (await wordpress.session_status(session_id))["status"] == "expired"
    assert (await harness.admin.flush_webhooks())["pending"] == 0
    assert await wordpress.delivered_credits_updated() == []
    assert (await harness.admin.reconcile())["ok"]
