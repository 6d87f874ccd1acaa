"""The Store contract, figures: reconcile, stats, ledger counts, the outbox backlog. Every test
runs against every backend (tests/store/conftest.py: SQLite, the mongomock shim standing in for
MongoDB, and a real MongoDB where one is available).
"""

from __future__ import annotations

import time

from service.domain.models import PurchaseCompletion
from service.store import Store

from ..builders import FREE, draft, failed_once, funded, new_intent, new_session, new_site


async def test_reconcile_is_clean_after_every_kind_of_money_operation(
    store: Store, site_id: str
) -> None:
    await store.ensure_user(site_id, "42", None, FREE)
    await store.grant_once(site_id, "42", "article", 10, "checkout:cs_rc")
    await store.deduct(site_id, "42", "article", 4)
    await store.adjust(site_id, "42", "image", -2, "admin:rc", reason="fix")
    await store.reverse("checkout:cs_rc", 10, reason="refund")
    report = await store.reconcile()
    assert report.ok, report.differences
    assert report.balances_checked >= 3


async def test_reconcile_reports_a_tampered_balance(store: Store, site_id: str, backend) -> None:
    await funded(store, site_id, credits=10)
    backend.tamper_balance(site_id, "42", "article", 1000)
    report = await store.reconcile()
    assert not report.ok
    [difference] = report.differences
    assert {
        k: difference[k] for k in ("site_id", "user_id", "credit_type", "balance", "ledger_sum")
    } == {
        "site_id": site_id,
        "user_id": "42",
        "credit_type": "article",
        "balance": 1000,
        "ledger_sum": 10,
    }


async def test_stats_figures(store: Store, site_id: str) -> None:
    await store.create_site(new_site(status="disabled"))
    await store.ensure_user(site_id, "1", None, FREE)
    await store.grant_once(site_id, "1", "article", 10, "checkout:s1")
    intent = new_intent(site_id, amount=1500, currency="jpy")
    await store.create_payment_intent(intent)
    paid = PurchaseCompletion("intent", intent.payment_intent_id)
    await store.grant_once(site_id, "2", "image", 20, "pi:p1", purchase=paid)
    await store.deduct(site_id, "1", "article", 3)
    session = new_session(site_id, amount=750, currency="JPY")
    await store.create_checkout_session(session)
    await store.transition_checkout_session(session.session_id, "pending", "completed", {})
    await store.create_checkout_session(new_session(site_id, amount=999))  # still pending
    await store.enqueue_webhook(draft(site_id))
    stats = await store.stats()
    assert stats["sites"] == {"total": 2, "active": 1, "disabled": 1}
    assert stats["users"] == 2
    assert stats["credits_sold"] == {"article": 10, "image": 20, "rewrite": 0}
    assert stats["credits_spent"] == {"article": 3, "image": 0, "rewrite": 0}
    assert stats["revenue"] == {"JPY": 2250}
    assert stats["webhooks"] == {"pending": 1}


async def test_stats_revenue_is_net_of_refunds_and_disputes(store: Store, site_id: str) -> None:
    def purchase(ref: str, credits: int, amount: int, currency: str = "JPY"):
        return store.grant_once(
            site_id,
            "1",
            "article",
            credits,
            ref,
            kind="purchase",
            meta={"amount": amount, "currency": currency},
        )

    sold = [new_session(site_id, amount=1000, currency="JPY", credits=10) for _ in range(3)]
    sold.append(new_session(site_id, amount=500, currency="usd", credits=5))
    for session in sold:
        await store.create_checkout_session(session)
        await store.transition_checkout_session(session.session_id, "pending", "completed", {})
        await purchase(
            f"checkout:{session.session_id}", session.credits, session.amount, session.currency
        )
    refunded, disputed, partly, dollars = (f"checkout:{s.session_id}" for s in sold)
    await store.reverse(refunded, 10, reason="refund", meta={"amount_reversed": 1000})
    await store.reverse(disputed, 10, reason="dispute")  # no amount recorded: in proportion
    await store.reverse(partly, 1, reason="refund", meta={"amount_reversed": 150})
    await store.reverse(partly, 1, reason="refund", meta={"amount_reversed": 150})  # replay
    await store.reverse(dollars, 2, reason="refund")  # 2 of 5 credits: 200 of 500
    assert (await store.stats())["revenue"] == {"JPY": 3000 - 1000 - 1000 - 150, "USD": 500 - 200}


async def test_outbox_backlog_and_ledger_counts(store: Store, site_id: str) -> None:
    assert await store.outbox_backlog() == {"pending": 0, "failed": 0, "oldest_pending_at": None}
    first = await store.enqueue_webhook(draft(site_id))
    await store.enqueue_webhook(draft(site_id))
    given_up = await store.enqueue_webhook(draft(site_id))
    [claimed] = [
        d
        for d in await store.claim_due_webhooks(
            "w", now=time.time(), lease_seconds=30, limit=5, include_scheduled=False
        )
        if d.delivery_id == given_up.delivery_id
    ]
    await store.record_webhook_attempts(
        "w",
        [failed_once(claimed.delivery_id)],
    )
    backlog = await store.outbox_backlog()
    assert backlog["pending"] == 2 and backlog["failed"] == 1
    assert backlog["oldest_pending_at"] == first.created_at
    await funded(store, site_id, credits=5)
    await store.deduct(site_id, "42", "article", 1)
    await store.deduct(site_id, "42", "article", 1)
    await store.reverse(f"fund:{site_id}:42", 1, reason="refund")
    counts = await store.count_ledger_entries()
    assert counts["deduction"] == 2 and counts["reversal"] == 1
    assert sum(counts.values()) == 4


async def test_stats_revenue_gives_back_what_a_won_dispute_restored(
    store: Store, site_id: str
) -> None:
    session = new_session(site_id, amount=1000, currency="JPY", credits=10)
    await store.create_checkout_session(session)
    await store.transition_checkout_session(session.session_id, "pending", "completed", {})
    ref = f"checkout:{session.session_id}"
    await store.grant_once(
        site_id, "1", "article", 10, ref, kind="purchase", meta={"amount": 1000, "currency": "JPY"}
    )
    await store.reverse(ref, 2, reason="refund", meta={"amount_reversed": 200})
    await store.reverse(
        ref, 8, reason="dispute", bucket="dispute:dp_1", version=1, meta={"amount_reversed": 800}
    )
    assert (await store.stats())["revenue"] == {"JPY": 0}
    await store.reverse(
        ref, 0, reason="dispute_won", bucket="dispute:dp_1", version=2, meta={"amount_reversed": 0}
    )
    assert (await store.stats())["revenue"] == {"JPY": 1000 - 200}
    assert (await store.reconcile()).ok
