"""Money going back: refunds reverse the refunded share of a purchase, disputes all of it."""

from __future__ import annotations

import pytest

from .wordpress import FREE, assert_settled, checkout_ref, intent_ref, settle

pytestmark = pytest.mark.e2e


async def _reversal_webhooks(wordpress, reason: str) -> list[dict]:
    return [
        w for w in await wordpress.delivered_credits_updated() if w["data"].get("reason") == reason
    ]


async def test_refund_reverses_the_refunded_share(harness, wordpress):
    session_id = await wordpress.checkout("article_starter")  # 10 credits for 750 JPY
    payment_intent_id = (await settle(harness, session_id))["payment_intent"]
    assert (await wordpress.verify(session_id))[0] == 200

    await harness.stripe.control(f"payment_intents/{payment_intent_id}/refund", {"amount": 300})
    await harness.stripe.drain()
    assert (await wordpress.credits())["article"] == 15 - 4  # 300/750 of 10 credits

    await harness.stripe.control(f"payment_intents/{payment_intent_id}/refund")  # the rest
    await harness.stripe.drain()

    reversals = sorted(await wordpress.entries("reversal"), key=lambda e: e["created_at"])
    assert [(e["delta"], e["reason"]) for e in reversals] == [(-4, "refund"), (-6, "refund")]
    await assert_settled(
        wordpress, payments={checkout_ref(session_id): 10}, credits=FREE, reversals=2
    )
    webhooks = await _reversal_webhooks(wordpress, "refund")
    assert [(w["data"]["change"], w["data"]["credits"]) for w in webhooks] == [(-4, 11), (-6, 5)]
    assert all(w["data"]["user_email"] == "editor@example.com" for w in webhooks)


async def test_dispute_reverses_the_whole_purchase(harness, wordpress):
    intent = await wordpress.create_intent("image_starter")  # 20 credits
    await harness.stripe.control(f"payment_intents/{intent}/succeed")
    await harness.stripe.drain()
    status, body = await wordpress.confirm(intent)
    assert status == 200 and body["credits_added"] == 20, body

    await harness.stripe.control(f"payment_intents/{intent}/dispute")
    await harness.stripe.drain()

    [reversal] = await wordpress.entries("reversal")
    assert (reversal["delta"], reversal["reason"]) == (-20, "dispute")
    await assert_settled(wordpress, payments={intent_ref(intent): 20}, credits=FREE, reversals=1)
    assert len(await _reversal_webhooks(wordpress, "dispute")) == 1


async def test_dispute_before_the_grant_then_won_restores_the_purchase(harness, wordpress):
    """The completed event is lost, the buyer disputes before anyone verifies, the merchant
    wins: the dispute's event grants and reverses, the verify finds the grant, the won
    dispute restores it."""
    session_id = await wordpress.checkout("article_starter")  # 10 credits
    await harness.stripe.faults(drop=1, event_type="checkout.session.completed")
    payment_intent_id = (await settle(harness, session_id))["payment_intent"]
    dispute = await harness.stripe.control(f"payment_intents/{payment_intent_id}/dispute")
    await harness.stripe.drain()
    assert (await wordpress.credits())["article"] == FREE["article"]
    assert (await wordpress.verify(session_id))[0] == 200

    await harness.stripe.control(f"disputes/{dispute['id']}/close", {"outcome": "won"})
    await harness.stripe.drain()

    [restore] = await wordpress.entries("restore")
    assert (restore["delta"], restore["reason"]) == (10, "dispute_won")
    await assert_settled(
        wordpress,
        payments={checkout_ref(session_id): 10},
        credits={**FREE, "article": 15},
        reversals=1,
    )
