"""The Store contract, run against every backend (see conftest.py for which ones run)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from service.domain.models import (
    AttemptOutcome,
    Balances,
    LedgerEntry,
    PurchaseCompletion,
    UserSeed,
    WebhookAttempt,
    WebhookDraft,
)
from service.store import DuplicateError, IdempotencyKeyReused, Store, UnknownGrantError

from .builders import draft, new_intent, new_package, new_session, new_site, notify_plugin

FREE = {"article": 5, "image": 10, "rewrite": 3}
OpenStore = Callable[[], Awaitable[Store]]


async def funded(
    store: Store,
    site_id: str,
    user_id: str = "42",
    credits: int = 100,
    credit_type: str = "article",
) -> None:
    """A user holding `credits` of one type, granted by a purchase."""
    await store.grant_once(site_id, user_id, credit_type, credits, f"fund:{site_id}:{user_id}")


async def balance(
    store: Store, site_id: str, user_id: str = "42", credit_type: str = "article"
) -> int:
    user = await store.get_user(site_id, user_id)
    return user.balances.of(credit_type) if user else 0


# ---------------------------------------------------------------------------- lifecycle
async def test_store_implements_the_protocol_and_answers_ping(store: Store) -> None:
    assert isinstance(store, Store)
    for name, method in inspect.getmembers(Store, inspect.isfunction):
        if not name.startswith("_"):
            ours = getattr(type(store), name)
            assert inspect.iscoroutinefunction(ours), name
            assert inspect.signature(ours) == inspect.signature(method), name
    assert await store.ping() is True


async def test_reopening_the_storage_keeps_everything(
    store: Store, site_id: str, open_store: OpenStore
) -> None:
    await funded(store, site_id, credits=7)
    again = await open_store()
    assert await balance(again, site_id) == 7
    assert (await again.get_site(site_id)) is not None


# ---------------------------------------------------------------------------- sites
async def test_create_site_then_get_it_by_id_and_by_instance(store: Store) -> None:
    site = new_site()
    assert await store.create_site(site) == site
    assert await store.get_site(site.site_id) == site
    assert await store.get_site_by_instance(site.instance_id) == site
    assert await store.get_site("site_missing") is None
    assert await store.get_site_by_instance("inst-missing") is None


async def test_create_site_with_a_taken_instance_id_raises_duplicate(store: Store) -> None:
    first = await store.create_site(new_site())
    with pytest.raises(DuplicateError):
        await store.create_site(new_site(instance_id=first.instance_id))


async def test_list_sites_newest_first_and_by_status(store: Store) -> None:
    a = await store.create_site(new_site())
    b = await store.create_site(new_site(status="disabled", disabled_reason="abuse"))
    c = await store.create_site(new_site())
    assert [s.site_id for s in await store.list_sites()] == [c.site_id, b.site_id, a.site_id]
    assert [s.site_id for s in await store.list_sites(status="disabled")] == [b.site_id]
    assert [s.site_id for s in await store.list_sites(limit=1, offset=1)] == [b.site_id]


async def test_update_site_merges_metadata_and_never_touches_secrets(store: Store) -> None:
    site = await store.create_site(new_site(metadata={"a": 1, "b": 1}))
    updated = await store.update_site(
        site.site_id,
        {
            "metadata": {"b": 2, "c": 3},
            "status": "disabled",
            "disabled_reason": "unpaid",
            "site_url": "https://moved.test",
            "token_hash": "sha256:forged",
            "webhook_secret": "whsec_forged",
            "site_id": "x",
            "instance_id": "y",
        },
    )
    assert updated is not None
    assert updated.metadata == {"a": 1, "b": 2, "c": 3}
    assert updated.config == site.config
    assert (updated.status, updated.disabled_reason) == ("disabled", "unpaid")
    assert updated.site_url == "https://moved.test"
    stored = await store.get_site(site.site_id)
    assert stored == updated
    assert (stored.token_hash, stored.webhook_secret) == (site.token_hash, site.webhook_secret)
    assert (stored.site_id, stored.instance_id) == (site.site_id, site.instance_id)


async def test_update_of_an_unknown_site_answers_none(store: Store) -> None:
    assert await store.update_site("site_missing", {"status": "disabled"}) is None
    assert await store.update_site_config("site_missing", {"provider": "openai"}) is None


async def test_update_site_refuses_to_replace_the_config(store: Store) -> None:
    site = await store.create_site(new_site())
    with pytest.raises(TypeError, match="update_site_config"):
        await store.update_site(site.site_id, {"config": {}})
    assert await store.get_site(site.site_id) == site


async def test_update_site_config_sets_and_removes_named_keys_and_answers_before_and_after(
    store: Store,
) -> None:
    site = await store.create_site(new_site(config={"provider_access": "approved", "model": "a"}))

    change = await store.update_site_config(
        site.site_id, {"provider": "openai", "model": "b"}, ["provider_access", "absent"]
    )

    assert change is not None
    before, after = change
    assert before.config == {"provider_access": "approved", "model": "a"}
    assert after.config == {"provider": "openai", "model": "b"}
    assert await store.get_site(site.site_id) == after
    assert replace(after, config=before.config, updated_at=before.updated_at) == before


@pytest.mark.parametrize(
    ("changes", "remove"),
    [
        ({"a.b": 1}, []),
        ({"$where": 1}, []),
        ({"": 1}, []),
        ({}, ["config.x"]),
        ({}, ["$unset"]),
        ({"model": "a"}, ["model"]),
    ],
)
async def test_update_site_config_refuses_keys_that_are_not_plain_names(
    store: Store, changes: dict, remove: list
) -> None:
    site = await store.create_site(new_site())
    with pytest.raises(ValueError):
        await store.update_site_config(site.site_id, changes, remove)
    with pytest.raises(TypeError):
        await store.update_site_config(site.site_id, {}, "webhook_url")
    assert await store.get_site(site.site_id) == site


async def test_concurrent_config_writers_from_stale_copies_never_undo_each_other(
    store: Store, open_store: OpenStore
) -> None:
    """An admin revokes access while plugin calls on other workers, each holding a copy of
    the site from before the revocation, write their provider choice: every key written
    survives, and the revocation too."""
    site = await store.create_site(new_site(config={"provider_access": "approved"}))
    stores = [store] + [await open_store() for _ in range(3)]
    stale = await stores[1].get_site(site.site_id)
    assert stale is not None and stale.config["provider_access"] == "approved"

    await asyncio.gather(
        store.update_site_config(site.site_id, {}, ["provider_access"]),
        *(
            stores[i % len(stores)].update_site_config(stale.site_id, {f"key_{i}": i})
            for i in range(40)
        ),
        stores[2].update_site_config(site.site_id, {"provider": "openai"}),
    )

    stored = await store.get_site(site.site_id)
    assert stored is not None
    assert stored.config == {"provider": "openai", **{f"key_{i}": i for i in range(40)}}


async def test_set_site_status_answers_the_site_before_and_after(store: Store) -> None:
    site = await store.create_site(new_site())

    change = await store.set_site_status(site.site_id, "disabled", "unpaid")

    assert change is not None
    before, after = change
    assert before == site
    assert (after.status, after.disabled_reason) == ("disabled", "unpaid")
    assert await store.get_site(site.site_id) == after
    assert replace(after, status="active", disabled_reason=None, updated_at=site.updated_at) == site
    assert await store.set_site_status("site_missing", "active", None) is None


async def test_set_site_status_for_an_instance_id_the_site_no_longer_holds_writes_nothing(
    store: Store,
) -> None:
    site = await store.create_site(new_site(status="disabled", disabled_reason="released"))
    moved = await store.reassign_instance(site.site_id, f"released/{site.site_id}", "new-hash")

    change = await store.set_site_status(site.site_id, "active", None, instance_id=site.instance_id)

    assert change == (moved, moved)
    assert await store.get_site(site.site_id) == moved
    held = await store.set_site_status(
        site.site_id, "active", None, instance_id=f"released/{site.site_id}"
    )
    assert held is not None and held[1].active


async def test_reassign_instance_frees_the_old_id_and_replaces_the_token(store: Store) -> None:
    site = await store.create_site(new_site())
    other = await store.create_site(new_site())

    moved = await store.reassign_instance(site.site_id, f"released/{site.site_id}", "new-hash")

    assert moved is not None and moved.instance_id == f"released/{site.site_id}"
    assert moved.token_hash == "new-hash" and moved.webhook_secret == site.webhook_secret
    assert await store.get_site_by_instance(site.instance_id) is None
    assert await store.create_site(new_site(instance_id=site.instance_id))
    with pytest.raises(DuplicateError):
        await store.reassign_instance(site.site_id, other.instance_id, "x")
    assert await store.reassign_instance("site_missing", "free-id", "x") is None


# ---------------------------------------------------------------------------- users
async def test_ensure_user_grants_free_credits_as_free_ledger_entries(
    store: Store, site_id: str
) -> None:
    user = await store.ensure_user(site_id, "42", "wp@example.test", FREE)
    assert (user.user_id, user.email) == ("42", "wp@example.test")
    assert user.balances == Balances(article=5, image=10, rewrite=3)
    entries = await store.list_ledger(site_id=site_id, user_id="42")
    assert sorted((e.credit_type, e.delta, e.kind) for e in entries) == [
        ("article", 5, "free"),
        ("image", 10, "free"),
        ("rewrite", 3, "free"),
    ]
    assert all(e.balance_after == e.delta for e in entries)


async def test_ensure_user_again_grants_nothing_more(store: Store, site_id: str) -> None:
    await store.ensure_user(site_id, "42", None, FREE)
    again = await store.ensure_user(site_id, "42", None, FREE)
    assert again.balances == Balances(article=5, image=10, rewrite=3)
    assert len(await store.list_ledger(site_id=site_id)) == 3


async def test_ensure_user_updates_a_new_email_and_keeps_it_when_none_given(
    store: Store, site_id: str
) -> None:
    await store.ensure_user(site_id, "42", "old@example.test", FREE)
    assert (
        await store.ensure_user(site_id, "42", "new@example.test", FREE)
    ).email == "new@example.test"
    assert (await store.ensure_user(site_id, "42", None, FREE)).email == "new@example.test"
    assert (await store.ensure_user(site_id, "42", "", FREE)).email == "new@example.test"


async def test_ensure_user_with_no_free_credits_writes_no_ledger_entry(
    store: Store, site_id: str
) -> None:
    user = await store.ensure_user(site_id, "7", None, {})
    assert user.balances == Balances()
    assert await store.list_ledger(site_id=site_id) == []


async def test_get_and_list_users(store: Store, site_id: str) -> None:
    other_site = (await store.create_site(new_site())).site_id
    await store.ensure_user(site_id, "1", None, FREE)
    await store.ensure_user(site_id, "2", None, {})
    await store.ensure_user(other_site, "3", None, {})
    assert await store.get_user(site_id, "99") is None
    users = await store.list_users(site_id)
    assert [(u.user_id, u.balances.image) for u in users] == [("1", 10), ("2", 0)]
    assert [u.user_id for u in await store.list_users(site_id, limit=1, offset=1)] == ["2"]


# ---------------------------------------------------------------------------- grant_once
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


# ---------------------------------------------------------------------------- deduct
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


# ---------------------------------------------------------------------------- adjust
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


# ---------------------------------------------------------------------------- reverse
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


async def test_grant_with_a_purchase_completes_its_record_in_the_same_write(
    store: Store, site_id: str
) -> None:
    session, intent = new_session(site_id), new_intent(site_id)
    await store.create_checkout_session(session)
    await store.create_payment_intent(intent)
    await store.transition_checkout_session(session.session_id, "pending", "expired", {})
    done = "2030-01-02T03:04:05.678000Z"
    await store.grant_once(
        site_id,
        "42",
        "article",
        10,
        f"checkout:{session.session_id}",
        purchase=PurchaseCompletion("checkout", session.session_id, "pi_late", done),
    )
    await store.grant_once(
        site_id,
        "42",
        "image",
        20,
        f"intent:{intent.payment_intent_id}",
        purchase=PurchaseCompletion("intent", intent.payment_intent_id, None, done),
    )
    stored = await store.get_checkout_session(session.session_id)
    assert (stored.status, stored.payment_intent_id, stored.completed_at) == (
        "completed",
        "pi_late",
        done,
    )
    assert (await store.get_checkout_session_by_payment_intent("pi_late")) == stored
    paid = await store.get_payment_intent(intent.payment_intent_id)
    assert (paid.status, paid.completed_at) == ("completed", done)


async def test_a_repeated_grant_completes_a_record_left_behind_and_keeps_its_fields(
    store: Store, site_id: str
) -> None:
    session = new_session(site_id, payment_intent_id="pi_first")
    await store.create_checkout_session(session)
    ref = f"checkout:{session.session_id}"
    await store.grant_once(site_id, "42", "article", 10, ref)
    again = await store.grant_once(
        site_id,
        "42",
        "article",
        10,
        ref,
        purchase=PurchaseCompletion("checkout", session.session_id, "pi_other"),
    )
    stored = await store.get_checkout_session(session.session_id)
    assert not again.applied
    assert (stored.status, stored.payment_intent_id) == ("completed", "pi_first")
    assert await balance(store, site_id) == 10


async def test_link_checkout_payment_intent_sets_it_once(store: Store, site_id: str) -> None:
    session = new_session(site_id)
    await store.create_checkout_session(session)
    assert await store.link_checkout_payment_intent(session.session_id, "pi_1")
    assert not await store.link_checkout_payment_intent(session.session_id, "pi_2")
    assert not await store.link_checkout_payment_intent("cs_missing", "pi_3")
    found = await store.get_checkout_session_by_payment_intent("pi_1")
    assert found is not None and found.session_id == session.session_id


# ---------------------------------------------------------------------------- ledger
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


# ---------------------------------------------------------------------------- reconcile
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


# ---------------------------------------------------------------------------- packages
async def test_seed_packages_only_into_an_empty_catalogue(store: Store) -> None:
    await store.seed_packages([new_package("article_10"), new_package("image_20")])
    await store.seed_packages([new_package("rewrite_5")])
    assert [p.package_id for p in await store.list_packages()] == ["article_10", "image_20"]


async def test_create_package_with_a_taken_id_raises_duplicate(store: Store) -> None:
    await store.create_package(new_package("article_10"))
    with pytest.raises(DuplicateError):
        await store.create_package(new_package("article_10", name="Other"))


async def test_update_package_and_list_active_only(store: Store) -> None:
    await store.create_package(new_package("b_pack", sort_order=2))
    await store.create_package(new_package("a_pack", sort_order=2))
    await store.create_package(new_package("z_first", sort_order=1, is_popular=True))
    updated = await store.update_package("b_pack", {"active": False, "price": 900})
    assert updated is not None and (updated.active, updated.price) == (False, 900)
    assert await store.get_package("b_pack") == updated
    assert await store.update_package("missing", {"price": 1}) is None
    assert [p.package_id for p in await store.list_packages()] == ["z_first", "a_pack"]
    assert [p.package_id for p in await store.list_packages(active_only=False)] == [
        "z_first",
        "a_pack",
        "b_pack",
    ]
    assert (await store.get_package("z_first")).is_popular is True


# ---------------------------------------------------------------------------- sessions, intents
async def test_checkout_session_round_trip_and_lookup_by_payment_intent(
    store: Store, site_id: str
) -> None:
    session = new_session(site_id)
    await store.create_checkout_session(session)
    assert await store.get_checkout_session(session.session_id) == session
    assert await store.get_checkout_session("cs_missing") is None
    with pytest.raises(DuplicateError):
        await store.create_checkout_session(session)
    assert await store.transition_checkout_session(
        session.session_id,
        "pending",
        "completed",
        {"payment_intent_id": "pi_123", "completed_at": "2030-01-02T03:04:05.678000Z"},
    )
    found = await store.get_checkout_session_by_payment_intent("pi_123")
    assert found is not None
    assert (found.session_id, found.status, found.completed_at) == (
        session.session_id,
        "completed",
        "2030-01-02T03:04:05.678000Z",
    )
    assert await store.get_checkout_session_by_payment_intent("pi_missing") is None


async def test_checkout_session_transition_succeeds_once_and_not_from_another_status(
    store: Store, site_id: str
) -> None:
    session = new_session(site_id)
    await store.create_checkout_session(session)
    assert await store.transition_checkout_session(session.session_id, "pending", "expired", {})
    assert not await store.transition_checkout_session(
        session.session_id, "pending", "completed", {}
    )
    assert not await store.transition_checkout_session("cs_missing", "pending", "expired", {})
    assert (await store.get_checkout_session(session.session_id)).status == "expired"


async def test_concurrent_session_transitions_succeed_once(
    store: Store, site_id: str, open_store: OpenStore
) -> None:
    session = new_session(site_id)
    await store.create_checkout_session(session)
    stores = [store, await open_store()]
    results = await asyncio.gather(
        *(
            stores[i % 2].transition_checkout_session(
                session.session_id, "pending", "completed", {}
            )
            for i in range(20)
        )
    )
    assert sum(results) == 1


async def test_payment_intent_round_trip_and_transition(store: Store, site_id: str) -> None:
    intent = new_intent(site_id)
    await store.create_payment_intent(intent)
    assert await store.get_payment_intent(intent.payment_intent_id) == intent
    assert await store.get_payment_intent("pi_missing") is None
    with pytest.raises(DuplicateError):
        await store.create_payment_intent(intent)


# ---------------------------------------------------------------------------- Stripe events
async def test_record_stripe_event_twice_answers_false_the_second_time(store: Store) -> None:
    assert not await store.stripe_event_seen("evt_1")
    assert await store.record_stripe_event("evt_1", "checkout.session.completed", "granted")
    assert not await store.record_stripe_event("evt_1", "checkout.session.completed", "again")
    assert await store.stripe_event_seen("evt_1")


async def test_a_stripe_event_keeps_its_first_recorded_outcome(store: Store) -> None:
    assert await store.stripe_event_outcome("evt_1") is None
    assert await store.record_stripe_event("evt_1", "charge.refunded", "rejected")
    assert not await store.record_stripe_event("evt_1", "charge.refunded", "reversed")
    assert await store.stripe_event_outcome("evt_1") == "rejected"


# ---------------------------------------------------------------------------- outbox
async def test_a_claimed_delivery_stays_leased_until_the_lease_expires(
    store: Store, site_id: str
) -> None:
    delivery = await store.enqueue_webhook(draft(site_id))
    now = time.time()
    claim = dict(lease_seconds=30, limit=10, include_scheduled=False)
    [mine] = await store.claim_due_webhooks("worker-a", now=now, **claim)
    assert mine.delivery_id == delivery.delivery_id
    assert await store.claim_due_webhooks("worker-b", now=now + 1, **claim) == []
    [theirs] = await store.claim_due_webhooks("worker-b", now=now + 31, **claim)
    assert theirs.delivery_id == delivery.delivery_id


async def test_a_draft_claimed_at_birth_is_stored_leased_under_its_id(
    store: Store, site_id: str
) -> None:
    now = time.time()
    born = replace(
        draft(site_id), delivery_id="whd_born", lease_owner="worker-a", lease_until=now + 30
    )
    delivery = await store.enqueue_webhook(born)
    claim = dict(lease_seconds=30, limit=10, include_scheduled=True)

    assert delivery.delivery_id == "whd_born"
    assert await store.claim_due_webhooks("worker-b", now=now + 1, **claim) == []
    [theirs] = await store.claim_due_webhooks("worker-b", now=now + 31, **claim)
    assert theirs.delivery_id == "whd_born"


async def test_its_owner_records_a_delivery_claimed_at_birth_without_claiming_it(
    store: Store, site_id: str
) -> None:
    await funded(store, site_id, credits=10)
    inner = notify_plugin()
    now = time.time()

    def born_leased(entry: LedgerEntry, balances: Balances) -> WebhookDraft | None:
        made = inner(entry, balances)
        assert made is not None
        return replace(made, delivery_id="whd_deduct", lease_owner="worker-a", lease_until=now + 30)

    result = await store.deduct(site_id, "42", "article", 1, notify=born_leased)
    assert result.ok
    claim = dict(lease_seconds=30, limit=10, include_scheduled=True)
    assert await store.claim_due_webhooks("worker-b", now=now + 1, **claim) == []
    attempt = WebhookAttempt(1, now + 1, 200, None, 3.0)
    await store.record_webhook_attempts(
        "worker-a", [AttemptOutcome("whd_deduct", attempt, True, None)]
    )

    [delivered] = await store.list_webhook_deliveries(site_id)
    assert (delivered.delivery_id, delivered.status, delivered.attempts) == (
        "whd_deduct",
        "delivered",
        1,
    )
    assert await store.claim_due_webhooks("worker-b", now=now + 31, **claim) == []


async def test_claim_skips_scheduled_deliveries_unless_asked(store: Store, site_id: str) -> None:
    delivery = await store.enqueue_webhook(draft(site_id))
    [claimed] = await store.claim_due_webhooks(
        "w", now=time.time(), lease_seconds=30, limit=5, include_scheduled=False
    )
    later = time.time() + 600
    await store.record_webhook_attempts(
        "w",
        [
            AttemptOutcome(
                claimed.delivery_id,
                WebhookAttempt(1, time.time(), 500, "HTTP 500", 12.5),
                False,
                later,
            )
        ],
    )
    claim = dict(lease_seconds=30, limit=5)
    assert (
        await store.claim_due_webhooks("w", now=time.time(), include_scheduled=False, **claim) == []
    )
    [forced] = await store.claim_due_webhooks("w", now=time.time(), include_scheduled=True, **claim)
    assert forced.delivery_id == delivery.delivery_id
    assert forced.next_attempt_at == later


async def test_claim_honours_the_limit_oldest_first(store: Store, site_id: str) -> None:
    ids = [(await store.enqueue_webhook(draft(site_id))).delivery_id for _ in range(3)]
    batch = await store.claim_due_webhooks(
        "w", now=time.time(), lease_seconds=30, limit=2, include_scheduled=False
    )
    assert {d.delivery_id for d in batch} == set(ids[:2])


async def test_concurrent_claims_lease_each_delivery_once(
    store: Store, site_id: str, open_store: OpenStore
) -> None:
    for _ in range(20):
        await store.enqueue_webhook(draft(site_id))
    stores = [store, await open_store(), await open_store()]
    now = time.time()
    batches = await asyncio.gather(
        *(
            stores[i % 3].claim_due_webhooks(
                f"worker-{i}", now=now, lease_seconds=60, limit=3, include_scheduled=False
            )
            for i in range(10)
        )
    )
    claimed = [d.delivery_id for batch in batches for d in batch]
    assert len(claimed) == len(set(claimed)) == 20


async def test_record_attempts_delivered_rescheduled_and_failed(store: Store, site_id: str) -> None:
    ok, retry, dead = [await store.enqueue_webhook(draft(site_id)) for _ in range(3)]
    now = time.time()
    await store.claim_due_webhooks(
        "w", now=now, lease_seconds=30, limit=10, include_scheduled=False
    )
    at = 1_900_000_000.25
    await store.record_webhook_attempts(
        "w",
        [
            AttemptOutcome(ok.delivery_id, WebhookAttempt(1, at, 200, None, 8.0), True),
            AttemptOutcome(
                retry.delivery_id, WebhookAttempt(1, at, 503, "HTTP 503", 9.0), False, now + 60
            ),
            AttemptOutcome(
                dead.delivery_id, WebhookAttempt(1, at, None, "connection refused", None), False
            ),
        ],
    )
    delivered = await store.get_webhook_delivery(ok.delivery_id)
    assert (delivered.status, delivered.attempts, delivered.last_status_code) == (
        "delivered",
        1,
        200,
    )
    assert delivered.delivered_at == "2030-03-17T17:46:40.250000Z"
    rescheduled = await store.get_webhook_delivery(retry.delivery_id)
    assert (rescheduled.status, rescheduled.next_attempt_at, rescheduled.last_error) == (
        "pending",
        now + 60,
        "HTTP 503",
    )
    failed = await store.get_webhook_delivery(dead.delivery_id)
    assert (failed.status, failed.last_status_code, failed.last_error) == (
        "failed",
        None,
        "connection refused",
    )
    assert failed.attempt_log == (WebhookAttempt(1, at, None, "connection refused", None),)
    assert await store.count_pending_webhooks() == 1
    assert await store.get_webhook_delivery("whd_missing") is None


async def test_an_outcome_for_a_lease_taken_over_changes_only_the_attempt_log(
    store: Store, site_id: str
) -> None:
    mine, theirs = [await store.enqueue_webhook(draft(site_id)) for _ in range(2)]
    now = time.time()
    claim = dict(lease_seconds=30, limit=10, include_scheduled=False)
    await store.claim_due_webhooks("worker-a", now=now, **claim)
    # worker-a's lease on both ran out; worker-b took them over.
    await store.claim_due_webhooks("worker-b", now=now + 31, **claim)
    late = WebhookAttempt(1, now, 200, None, 4.0)
    await store.record_webhook_attempts(
        "worker-a",
        [
            AttemptOutcome(mine.delivery_id, late, True),
            AttemptOutcome(theirs.delivery_id, late, True),
        ],
    )
    for delivery in (mine, theirs):
        kept = await store.get_webhook_delivery(delivery.delivery_id)
        assert (kept.status, kept.attempts, kept.delivered_at) == ("pending", 0, None)
        assert kept.attempt_log == (late,)
    await store.record_webhook_attempts(
        "worker-b",
        [AttemptOutcome(theirs.delivery_id, WebhookAttempt(2, now, 200, None, 1.0), True)],
    )
    assert (await store.get_webhook_delivery(theirs.delivery_id)).status == "delivered"
    assert await store.count_pending_webhooks() == 1
    await store.record_webhook_attempts("worker-b", [])


async def test_list_deliveries_newest_first_with_their_attempt_log(
    store: Store, site_id: str
) -> None:
    first = await store.enqueue_webhook(draft(site_id, "credits_updated"))
    second = await store.enqueue_webhook(draft(site_id, "site_disabled"))
    await store.enqueue_webhook(draft((await store.create_site(new_site())).site_id))
    for number in (1, 2):
        await store.claim_due_webhooks(
            "w", now=time.time(), lease_seconds=30, limit=10, include_scheduled=True
        )
        await store.record_webhook_attempts(
            "w",
            [
                AttemptOutcome(
                    first.delivery_id,
                    WebhookAttempt(number, 1000.0 + number, 500, "boom", 1.0),
                    False,
                    time.time() - 1,
                )
            ],
        )
    listed = await store.list_webhook_deliveries(site_id)
    assert [d.delivery_id for d in listed] == [second.delivery_id, first.delivery_id]
    assert [a.attempt for a in listed[1].attempt_log] == [1, 2]
    assert listed[0].attempt_log == ()
    assert [d.event for d in await store.list_webhook_deliveries(site_id, limit=1, offset=1)] == [
        "credits_updated"
    ]


async def test_retry_makes_a_failed_delivery_pending_and_due(store: Store, site_id: str) -> None:
    delivery = await store.enqueue_webhook(draft(site_id))
    await store.claim_due_webhooks(
        "w", now=time.time(), lease_seconds=30, limit=1, include_scheduled=False
    )
    await store.record_webhook_attempts(
        "w",
        [
            AttemptOutcome(
                delivery.delivery_id, WebhookAttempt(1, time.time(), 410, "gone", 3.0), False, None
            )
        ],
    )
    assert await store.count_pending_webhooks() == 0
    now = time.time()
    retried = await store.retry_webhook_delivery(delivery.delivery_id, now=now)
    assert retried is not None
    assert (retried.status, retried.next_attempt_at) == ("pending", now)
    assert len(retried.attempt_log) == 1
    assert await store.count_pending_webhooks() == 1
    assert await store.retry_webhook_delivery("whd_missing", now=now) is None


# ---------------------------------------------------------------------------- the rest
async def test_analytics_rows_are_recorded(store: Store, site_id: str, backend) -> None:
    await store.record_generation(
        site_id, {"type": "article", "model": "gpt-4o", "tokens": 812, "title": "日本語のタイトル"}
    )
    await store.record_usage(site_id, {"period": "2025-11", "articles": 3})
    assert backend.analytics_rows(site_id) == 2


async def test_settings_round_trip_and_overwrite(store: Store) -> None:
    assert await store.get_setting("providers") is None
    await store.set_setting("providers", {"openai": {"api_key": "sk-1", "models": ["a"]}})
    await store.set_setting("providers", {"openai": {"api_key": "sk-2"}})
    assert await store.get_setting("providers") == {"openai": {"api_key": "sk-2"}}


async def test_merge_setting_creates_then_merges_and_answers_before_and_after(
    store: Store,
) -> None:
    assert await store.merge_setting("stripe", {"currency": "JPY"}) == (None, {"currency": "JPY"})
    before, after = await store.merge_setting("stripe", {"public_key": "pk_1", "test_mode": None})
    assert before == {"currency": "JPY"}
    assert after == {"currency": "JPY", "public_key": "pk_1", "test_mode": None}
    assert await store.get_setting("stripe") == after
    with pytest.raises(ValueError):
        await store.merge_setting("stripe", {"a.b": 1})
    with pytest.raises(ValueError):
        await store.merge_setting("stripe", {"$inc": 1})
    assert await store.get_setting("stripe") == after


async def test_concurrent_setting_merges_all_land(store: Store, open_store: OpenStore) -> None:
    """Admins on several workers change different keys of one setting at once."""
    stores = [store] + [await open_store() for _ in range(3)]
    await asyncio.gather(
        *(stores[i % len(stores)].merge_setting("provider:openai", {f"k{i}": i}) for i in range(40))
    )
    assert await store.get_setting("provider:openai") == {f"k{i}": i for i in range(40)}


async def test_concurrent_package_updates_of_different_fields_all_land(
    store: Store, open_store: OpenStore
) -> None:
    await store.create_package(new_package("pkg_race"))
    other = await open_store()
    await asyncio.gather(
        *(
            (store if i % 2 else other).update_package(
                "pkg_race", {"price": 1000 + i} if i % 2 else {"sort_order": i}
            )
            for i in range(20)
        ),
        store.update_package("pkg_race", {"name": "Renamed"}),
        other.update_package("pkg_race", {"description": "New words"}),
    )
    package = await store.get_package("pkg_race")
    assert package is not None
    assert (package.name, package.description) == ("Renamed", "New words")
    assert package.price in {1000 + i for i in range(1, 20, 2)}
    assert package.sort_order in set(range(0, 20, 2))


async def test_rate_limit_counts_per_key_and_window(store: Store) -> None:
    window = int(time.time() // 60) * 60
    assert [await store.hit_rate_limit("site:a", window) for _ in range(3)] == [1, 2, 3]
    assert await store.hit_rate_limit("site:b", window) == 1
    assert await store.hit_rate_limit("site:a", window + 60) == 1


async def test_concurrent_rate_limit_hits_are_all_counted(
    store: Store, open_store: OpenStore
) -> None:
    window = int(time.time() // 60) * 60
    stores = [store, await open_store()]
    counts = await asyncio.gather(
        *(stores[i % 2].hit_rate_limit("site:c", window) for i in range(40))
    )
    assert sorted(counts) == list(range(1, 41))


async def test_rate_limit_hits_add_up_in_batches(store: Store, open_store: OpenStore) -> None:
    window = int(time.time() // 60) * 60
    other = await open_store()
    assert await store.hit_rate_limit("site:batch", window, 5) == 5
    assert await other.hit_rate_limit("site:batch", window, 7) == 12
    assert await store.hit_rate_limit("site:batch", window) == 13


async def test_every_write_of_sites_and_packages_moves_its_cache_version(
    store: Store, open_store: OpenStore
) -> None:
    """What workers cache is kept fresh through these counters, read through another
    connection (another worker, or another machine on the same MongoDB)."""
    other = await open_store()
    site = await store.create_site(new_site())
    writes = {
        "sites": [
            lambda: store.update_site(site.site_id, {"status": "disabled"}),
            lambda: store.reassign_instance(site.site_id, "inst-moved", "hash-2"),
        ],
        "packages": [
            lambda: store.create_package(new_package("pkg_cached")),
            lambda: store.update_package("pkg_cached", {"active": False}),
        ],
    }
    for name, steps in writes.items():
        for step in steps:
            before = await other.cache_versions()
            await step()
            after = await other.cache_versions()
            assert after[name] > before[name], name
            unmoved = [n for n in after if n != name]
            assert all(after[n] == before[n] for n in unmoved), (name, before, after)
    # Reads and money leave the counters alone.
    before = await other.cache_versions()
    await store.get_site_by_instance("inst-moved")
    await store.list_packages()
    await store.ensure_user(site.site_id, "1", None, FREE)
    await store.deduct(site.site_id, "1", "article", 1)
    assert await other.cache_versions() == before


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


# ---------------------------------------------------------------------------- concurrency
async def test_200_concurrent_deducts_of_1_from_100_succeed_exactly_100_times(
    store: Store, site_id: str, open_store: OpenStore
) -> None:
    await funded(store, site_id, credits=100)
    stores = [store] + [await open_store() for _ in range(3)]
    results = await asyncio.gather(
        *(stores[i % len(stores)].deduct(site_id, "42", "article", 1) for i in range(200))
    )
    assert sum(r.ok for r in results) == 100
    assert await balance(store, site_id) == 0
    assert (
        len(
            [
                e
                for e in await store.list_ledger(site_id=site_id, limit=500)
                if e.kind == "deduction"
            ]
        )
        == 100
    )
    assert sorted(r.entry.balance_after for r in results if r.entry) == list(range(100))
    report = await store.reconcile()
    assert report.ok, report.differences


async def test_40_concurrent_first_deducts_ensuring_one_new_user_welcome_it_once(
    store: Store, site_id: str, open_store: OpenStore
) -> None:
    stores = [store] + [await open_store() for _ in range(3)]
    seed = UserSeed("wp@example.test", FREE)
    results = await asyncio.gather(
        *(
            stores[i % len(stores)].deduct(site_id, "77", "article", 1, ensure=seed)
            for i in range(40)
        )
    )
    assert sum(r.ok for r in results) == 5
    assert await balance(store, site_id, user_id="77") == 0
    kinds = [e.kind for e in await store.list_ledger(site_id=site_id, limit=500)]
    assert (kinds.count("free"), kinds.count("deduction")) == (3, 5)
    report = await store.reconcile()
    assert report.ok, report.differences


async def test_50_concurrent_grant_once_with_one_source_ref_grant_once(
    store: Store, site_id: str, open_store: OpenStore
) -> None:
    stores = [store] + [await open_store() for _ in range(3)]
    notify = notify_plugin()
    results = await asyncio.gather(
        *(
            stores[i % len(stores)].grant_once(
                site_id, "42", "article", 10, "checkout:cs_race", notify=notify
            )
            for i in range(50)
        )
    )
    assert sum(r.applied for r in results) == 1
    assert {r.entry.transaction_id for r in results if r.entry} == {
        (await store.get_ledger_entry("checkout:cs_race")).transaction_id
    }
    assert await balance(store, site_id) == 10
    assert await store.count_pending_webhooks() == 1
    assert (await store.reconcile()).ok


async def test_50_concurrent_deducts_with_one_idempotency_key_deduct_once(
    store: Store, site_id: str, open_store: OpenStore
) -> None:
    await funded(store, site_id, credits=100)
    stores = [store] + [await open_store() for _ in range(3)]
    results = await asyncio.gather(
        *(
            stores[i % len(stores)].deduct(site_id, "42", "article", 7, idempotency_key="gen-race")
            for i in range(50)
        )
    )
    assert all(r.ok for r in results)
    assert sum(not r.replayed for r in results) == 1
    assert len({r.entry.transaction_id for r in results if r.entry}) == 1
    assert await balance(store, site_id) == 93
    assert (await store.reconcile()).ok


async def test_concurrent_deducts_with_one_key_and_a_balance_for_one_all_answer_it(
    store: Store, site_id: str, open_store: OpenStore
) -> None:
    # The retry of a request whose answer was lost: it must replay the first deduction,
    # never answer 402 because the first one spent the balance.
    await funded(store, site_id, credits=7)
    stores = [store] + [await open_store() for _ in range(3)]
    results = await asyncio.gather(
        *(s.deduct(site_id, "42", "article", 7, idempotency_key="gen-1") for s in stores)
    )
    assert [r.ok for r in results] == [True] * 4
    assert sorted(r.replayed for r in results) == [False, True, True, True]
    assert len({r.entry.transaction_id for r in results if r.entry}) == 1
    assert await balance(store, site_id) == 0
    assert (await store.reconcile()).ok


async def test_concurrent_partial_refunds_of_one_grant_never_exceed_it(
    store: Store, site_id: str, open_store: OpenStore
) -> None:
    await store.grant_once(site_id, "42", "article", 10, "checkout:cs_refunds")
    stores = [store] + [await open_store() for _ in range(3)]
    await asyncio.gather(
        *(
            stores[i % len(stores)].reverse("checkout:cs_refunds", target, reason="refund")
            for i, target in enumerate([3, 5, 8, 5, 3, 8, 10, 12, 10, 1] * 3)
        )
    )
    assert await balance(store, site_id) == 0
    assert (await store.reconcile()).ok


async def test_a_refused_deduct_is_never_replayed_as_success_to_a_concurrent_caller(
    store: Store, site_id: str, open_store: OpenStore
) -> None:
    # Two callers with one idempotency key, neither covered: a caller must never answer
    # success by finding the other's operation while it is still in progress.
    await funded(store, site_id, credits=5)
    stores = [store] + [await open_store() for _ in range(3)]
    results = await asyncio.gather(
        *(
            stores[i % len(stores)].deduct(site_id, "42", "article", 10, idempotency_key="gen-x")
            for i in range(8)
        )
    )
    assert [r.ok for r in results] == [False] * 8
    assert await balance(store, site_id) == 5
    assert (await store.reconcile()).ok


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


async def test_a_reversal_keeps_the_meta_it_is_given(store: Store, site_id: str) -> None:
    await store.grant_once(site_id, "1", "article", 10, "checkout:m", kind="purchase")
    result = await store.reverse("checkout:m", 4, reason="refund", meta={"amount_reversed": 400})
    assert result.entry is not None
    assert result.entry.meta == {"amount_reversed": 400, "reversed_total": 4, "bucket": "refund"}
    stored = await store.get_ledger_entry(result.entry.source_ref)
    assert stored is not None and stored.meta["amount_reversed"] == 400


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
        [
            AttemptOutcome(
                claimed.delivery_id,
                WebhookAttempt(1, time.time(), 500, "HTTP 500", 3.0),
                False,
                None,
            )
        ],
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
