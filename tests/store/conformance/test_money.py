"""The Store contract, money: grants, deductions, adjustments, reversals, the ledger.
Every test runs against every backend (tests/store/conftest.py: SQLite, the
mongomock shim standing in for MongoDB, and a real MongoDB where one is available).
"""

from __future__ import annotations

import pytest

from service.domain.models import Balances, UserSeed
from service.store import IdempotencyKeyReused, Store, UnknownGrantError

from ..builders import FREE, balance, funded, new_site, notify_plugin


async def test_grant_once_adds_credits_with_one_ledger_entry(store: Store, site_id: str) -> None:
    result = await store.grant_once(
        site_id, "42", "image", 20, "checkout:cs_1", reason="checkout", meta={"session_id": "cs_1"}
    )
    assert result.applied
    assert result.balances == Balances(image=20)
    entry = result.entry
    assert entry is not None
    assert (entry.delta, entry.balance_after, entry.kind, entry.source_ref) == (
        20,
        20,
        "purchase",
        "checkout:cs_1",
    )
    assert entry.meta == {"session_id": "cs_1"}
    assert await store.get_ledger_entry("checkout:cs_1") == entry


async def test_grant_once_twice_grants_once(store: Store, site_id: str) -> None:
    notify = notify_plugin()
    first = await store.grant_once(site_id, "42", "article", 10, "checkout:cs_2", notify=notify)
    again = await store.grant_once(site_id, "42", "article", 10, "checkout:cs_2", notify=notify)
    assert (first.applied, again.applied) == (True, False)
    assert again.entry == first.entry
    assert again.balances == Balances(article=10)
    assert await store.count_pending_webhooks() == 1


async def test_grant_once_for_an_unseen_user_creates_the_user(store: Store, site_id: str) -> None:
    await store.grant_once(site_id, "77", "rewrite", 4, "adjust:first")
    user = await store.get_user(site_id, "77")
    assert user is not None
    assert user.balances == Balances(rewrite=4)


async def test_deduct_removes_credits(store: Store, site_id: str) -> None:
    await funded(store, site_id, credits=10)
    result = await store.deduct(site_id, "42", "article", 3, reason="generation")
    assert result.ok and not result.replayed
    assert result.balances.article == 7
    assert result.entry is not None
    assert (result.entry.delta, result.entry.balance_after, result.entry.kind) == (
        -3,
        7,
        "deduction",
    )


async def test_deduct_beyond_the_balance_fails_and_writes_nothing(
    store: Store, site_id: str
) -> None:
    await funded(store, site_id, credits=2)
    notify = notify_plugin()
    result = await store.deduct(site_id, "42", "article", 3, notify=notify)
    assert not result.ok
    assert result.entry is None
    assert result.balances.article == 2
    assert len(await store.list_ledger(site_id=site_id)) == 1
    assert await store.count_pending_webhooks() == 0
    assert not (await store.deduct(site_id, "nobody", "article", 1)).ok


async def test_deduct_with_an_idempotency_key_replays_the_first_result(
    store: Store, site_id: str
) -> None:
    await funded(store, site_id, credits=10)
    first = await store.deduct(site_id, "42", "article", 4, idempotency_key="gen-1")
    again = await store.deduct(site_id, "42", "article", 4, idempotency_key="gen-1")
    assert first.ok and not first.replayed
    assert again.ok and again.replayed
    assert again.entry == first.entry
    assert await balance(store, site_id) == 6
    other = await store.deduct(site_id, "42", "article", 4, idempotency_key="gen-2")
    assert other.ok and not other.replayed
    assert await balance(store, site_id) == 2


async def test_deduct_ensuring_an_unseen_user_creates_it_with_its_welcome_credits_first(
    store: Store, site_id: str
) -> None:
    result = await store.deduct(
        site_id, "77", "article", 2, reason="generation", ensure=UserSeed("wp@example.test", FREE)
    )
    assert result.ok and result.balances == Balances(article=3, image=10, rewrite=3)
    user = await store.get_user(site_id, "77")
    assert user is not None and user.email == "wp@example.test"
    assert user.balances == result.balances
    entries = await store.list_ledger(site_id=site_id, user_id="77")
    assert sorted((e.kind, e.credit_type, e.delta) for e in entries) == [
        ("deduction", "article", -2),
        ("free", "article", 5),
        ("free", "image", 10),
        ("free", "rewrite", 3),
    ]


async def test_deduct_ensuring_a_user_refused_for_want_of_credits_keeps_the_new_user(
    store: Store, site_id: str
) -> None:
    notify = notify_plugin()
    result = await store.deduct(
        site_id, "77", "article", 6, notify=notify, ensure=UserSeed(None, FREE)
    )
    assert not result.ok and result.entry is None
    assert result.balances == Balances(article=5, image=10, rewrite=3)
    user = await store.get_user(site_id, "77")
    assert user is not None and user.balances == result.balances
    assert len(await store.list_ledger(site_id=site_id)) == 3
    assert await store.count_pending_webhooks() == 0


async def test_deduct_ensuring_a_known_user_grants_nothing_more_and_updates_only_a_new_email(
    store: Store, site_id: str
) -> None:
    await store.ensure_user(site_id, "77", "old@example.test", FREE)
    for email, stored in [
        (None, "old@example.test"),
        ("", "old@example.test"),
        ("new@example.test", "new@example.test"),
        (None, "new@example.test"),
    ]:
        result = await store.deduct(site_id, "77", "image", 1, ensure=UserSeed(email, FREE))
        assert result.ok
        user = await store.get_user(site_id, "77")
        assert user is not None and user.email == stored
    assert await balance(store, site_id, user_id="77", credit_type="image") == 6
    assert [e.kind for e in await store.list_ledger(site_id=site_id)].count("free") == 3


async def test_a_retried_deduct_ensuring_its_user_replays_and_grants_nothing_more(
    store: Store, site_id: str
) -> None:
    seed = UserSeed("wp@example.test", FREE)
    first = await store.deduct(site_id, "77", "article", 1, idempotency_key="k", ensure=seed)
    again = await store.deduct(site_id, "77", "article", 1, idempotency_key="k", ensure=seed)
    assert again.replayed and again.entry == first.entry
    assert again.balances == Balances(article=4, image=10, rewrite=3)
    assert len(await store.list_ledger(site_id=site_id)) == 4


@pytest.mark.parametrize("change", [{"credit_type": "image"}, {"amount": 5}, {"reason": "another"}])
async def test_an_idempotency_key_reused_for_another_request_raises_and_writes_nothing(
    store: Store, site_id: str, change: dict
) -> None:
    await funded(store, site_id, credits=10)
    await store.grant_once(site_id, "42", "image", 10, "fund-image")
    request = {"credit_type": "article", "amount": 4, "reason": "generation", **change}
    first = await store.deduct(
        site_id,
        "42",
        "article",
        4,
        idempotency_key="gen-1",
        reason="generation",
        notify=notify_plugin(),
    )
    ledger = await store.list_ledger(site_id=site_id)
    with pytest.raises(IdempotencyKeyReused):
        await store.deduct(
            site_id,
            "42",
            request["credit_type"],
            request["amount"],
            idempotency_key="gen-1",
            reason=request["reason"],
            notify=notify_plugin(),
        )
    assert await store.list_ledger(site_id=site_id) == ledger
    assert len(await store.list_webhook_deliveries(site_id)) == 1
    assert await balance(store, site_id) == 6
    assert await balance(store, site_id, credit_type="image") == 10
    again = await store.deduct(
        site_id, "42", "article", 4, idempotency_key="gen-1", reason="generation"
    )
    assert again.replayed and again.entry == first.entry


async def test_deduct_enqueues_its_webhook_in_the_same_operation(
    store: Store, site_id: str
) -> None:
    await funded(store, site_id, credits=5)
    result = await store.deduct(site_id, "42", "article", 1, notify=notify_plugin())
    assert result.entry is not None
    [delivery] = await store.list_webhook_deliveries(site_id)
    assert result.entry.transaction_id in delivery.body
    assert '"article_credits": 4' in delivery.body


async def test_notify_answering_none_enqueues_nothing(store: Store, site_id: str) -> None:
    await store.grant_once(site_id, "42", "article", 5, "quiet", notify=lambda e, b: None)
    assert await store.count_pending_webhooks() == 0


async def test_adjust_changes_the_balance_once_per_source_ref(store: Store, site_id: str) -> None:
    await funded(store, site_id, credits=10)
    up = await store.adjust(site_id, "42", "article", 5, "admin:1", reason="goodwill")
    again = await store.adjust(site_id, "42", "article", 5, "admin:1", reason="goodwill")
    down = await store.adjust(site_id, "42", "article", -12, "admin:2", reason="correction")
    assert up.ok and not up.replayed
    assert again.ok and again.replayed and again.entry == up.entry
    assert down.ok
    assert down.entry is not None and down.entry.kind == "adjustment"
    assert await balance(store, site_id) == 3


@pytest.mark.parametrize(
    ("user_id", "credit_type", "delta", "reason"),
    [
        ("43", "article", 5, "goodwill"),
        ("42", "image", 5, "goodwill"),
        ("42", "article", 6, "goodwill"),
        ("42", "article", 5, "another"),
    ],
)
async def test_adjust_reusing_a_source_ref_for_another_request_raises_and_writes_nothing(
    store: Store, site_id: str, user_id: str, credit_type: str, delta: int, reason: str
) -> None:
    await funded(store, site_id, credits=10)
    up = await store.adjust(site_id, "42", "article", 5, "admin:9", reason="goodwill")
    ledger = await store.list_ledger(site_id=site_id)
    with pytest.raises(IdempotencyKeyReused):
        await store.adjust(site_id, user_id, credit_type, delta, "admin:9", reason=reason)
    assert await store.list_ledger(site_id=site_id) == ledger
    assert await balance(store, site_id) == 15
    assert await store.get_user(site_id, "43") is None
    assert (await store.get_ledger_entry("admin:9")) == up.entry


async def test_adjust_below_zero_is_refused(store: Store, site_id: str) -> None:
    await funded(store, site_id, credits=3)
    result = await store.adjust(site_id, "42", "article", -4, "admin:3", reason="too much")
    assert not result.ok
    assert await balance(store, site_id) == 3
    assert await store.get_ledger_entry("admin:3") is None


async def test_reverse_is_a_cumulative_target(store: Store, site_id: str) -> None:
    await store.grant_once(site_id, "42", "article", 10, "checkout:cs_r")
    first = await store.reverse("checkout:cs_r", 5, reason="refund")
    replay = await store.reverse("checkout:cs_r", 5, reason="refund")
    more = await store.reverse("checkout:cs_r", 8, reason="refund")
    assert first.applied and first.entry is not None and first.entry.delta == -5
    assert not replay.applied and replay.entry is None
    assert more.applied and more.entry is not None and more.entry.delta == -3
    assert (more.entry.kind, more.entry.parent_ref) == ("reversal", "checkout:cs_r")
    assert await balance(store, site_id) == 2
    assert not (await store.reverse("checkout:cs_r", 5, reason="late event")).applied


async def test_reverse_is_capped_at_the_grant(store: Store, site_id: str) -> None:
    await store.grant_once(site_id, "42", "article", 10, "checkout:cs_cap")
    result = await store.reverse("checkout:cs_cap", 50, reason="dispute")
    assert result.entry is not None and result.entry.delta == -10
    assert not (await store.reverse("checkout:cs_cap", 50, reason="dispute")).applied
    assert await balance(store, site_id) == 0


async def test_reverse_may_go_negative_and_a_negative_balance_blocks_deducting(
    store: Store, site_id: str
) -> None:
    await store.grant_once(site_id, "42", "article", 10, "checkout:cs_neg")
    await store.deduct(site_id, "42", "article", 8)
    result = await store.reverse("checkout:cs_neg", 10, reason="refund", notify=notify_plugin())
    assert result.balances.article == -8
    assert not (await store.deduct(site_id, "42", "article", 1)).ok
    assert await store.count_pending_webhooks() == 1
    assert (await store.reconcile()).ok


async def test_reverse_of_an_unknown_ref_raises(store: Store) -> None:
    with pytest.raises(UnknownGrantError):
        await store.reverse("checkout:never", 1, reason="refund")


async def test_reverse_buckets_add_up_and_a_lowered_dispute_target_restores(
    store: Store, site_id: str
) -> None:
    await store.grant_once(site_id, "42", "article", 10, "checkout:cs_b")
    refund = await store.reverse("checkout:cs_b", 3, reason="refund")
    dispute = await store.reverse(
        "checkout:cs_b", 5, reason="dispute", bucket="dispute:dp_1", version=1
    )
    won = await store.reverse(
        "checkout:cs_b",
        0,
        reason="dispute",
        bucket="dispute:dp_1",
        version=2,
        notify=notify_plugin(),
    )
    late = await store.reverse(
        "checkout:cs_b", 5, reason="dispute", bucket="dispute:dp_1", version=1
    )
    assert [r.entry.delta for r in (refund, dispute, won)] == [-3, -5, 5]
    assert won.entry.kind == "restore" and won.entry.parent_ref == "checkout:cs_b"
    assert not late.applied, "an older report of a dispute never overrides its outcome"
    assert await balance(store, site_id) == 7
    assert await store.count_pending_webhooks() == 1
    assert (await store.reconcile()).ok


async def test_reverse_buckets_together_are_capped_at_the_grant_in_any_order(
    store: Store, site_id: str
) -> None:
    for order, ref in (((0, 1, 2), "checkout:cs_o1"), ((1, 0, 2), "checkout:cs_o2")):
        await store.grant_once(site_id, "42", "article", 10, ref)
        reports = [("refund", 10, None), ("dispute:dp", 10, 1), ("dispute:dp", 0, 2)]
        for i in order:
            bucket, credits, version = reports[i]
            await store.reverse(ref, credits, reason="x", bucket=bucket, version=version)
        children = [e for e in await store.list_ledger(site_id=site_id) if e.parent_ref == ref]
        assert sum(e.delta for e in children) == -10, order
    assert await balance(store, site_id) == 0
    assert (await store.reconcile()).ok


async def test_list_ledger_newest_first_with_filters(store: Store, site_id: str) -> None:
    await store.grant_once(site_id, "1", "article", 3, "g1")
    await store.grant_once(site_id, "2", "image", 4, "g2")
    await store.deduct(site_id, "1", "article", 1, idempotency_key="d1")
    other = (await store.create_site(new_site())).site_id
    await store.grant_once(other, "1", "article", 9, "g3")
    assert [e.source_ref for e in await store.list_ledger(site_id=site_id)] == [
        f"deduct:{site_id}:1:d1",
        "g2",
        "g1",
    ]
    assert [e.source_ref for e in await store.list_ledger(site_id=site_id, user_id="1")] == [
        f"deduct:{site_id}:1:d1",
        "g1",
    ]
    assert [e.source_ref for e in await store.list_ledger(credit_type="image")] == ["g2"]
    assert [e.source_ref for e in await store.list_ledger(limit=2, offset=1)] == [
        f"deduct:{site_id}:1:d1",
        "g2",
    ]
    assert await store.get_ledger_entry("missing") is None


async def test_a_reversal_keeps_the_meta_it_is_given(store: Store, site_id: str) -> None:
    await store.grant_once(site_id, "1", "article", 10, "checkout:m", kind="purchase")
    result = await store.reverse("checkout:m", 4, reason="refund", meta={"amount_reversed": 400})
    assert result.entry is not None
    assert result.entry.meta == {"amount_reversed": 400, "reversed_total": 4, "bucket": "refund"}
    stored = await store.get_ledger_entry(result.entry.source_ref)
    assert stored is not None and stored.meta["amount_reversed"] == 400
