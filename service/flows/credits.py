"""A user's credits outside purchases: the balance, deductions, admin adjustments, the ledger.

Each change is one store call that writes the balance, its ledger entry and the plugin's
`credits_updated` notice together, never below zero. A repeated key answers the first result;
a key reused for a different request answers 409 `idempotency_key_conflict`, never the first
result.
"""

from __future__ import annotations

import secrets
from typing import Any

from ..context import Services
from ..domain import plugin_webhooks
from ..domain.models import Site, UserSeed
from ..domain.numbers import whole
from ..domain.users import user_key
from ..errors import (
    AdjustmentExceedsBalance,
    ApiError,
    IdempotencyKeyConflict,
    InsufficientCredits,
)
from ..store import IdempotencyKeyReused
from ..store.base import same_request


def key_reused(name: str) -> ApiError:
    """A key that settled a different request: Stripe's answer, never the first result."""
    return IdempotencyKeyConflict(f"This {name} was already used for a different request")


async def user_credits(
    services: Services, site: Site, user_id: int | str, email: str | None
) -> dict[str, Any]:
    """The user's balances, creating the user with the free credits on first sight."""
    key = user_key(user_id)
    user = await services.store.ensure_user(
        site.site_id, key, email or None, services.settings.free_credits
    )
    return {"success": True, "user_id": key, "credits": user.balances.to_api()}


async def deduct(
    services: Services, site: Site, body: dict[str, Any], idempotency_key: str | None
) -> dict[str, Any]:
    """Spend credits for a generation, once per idempotency key."""
    user_id = user_key(body["user_id"])
    email = body.get("user_email") or None
    store = services.store
    free = services.settings.free_credits
    ensure: UserSeed | None = UserSeed(email, free)  # the store ensures the user in the deduction
    if not email:
        # The webhook needs the stored email: ensure the user first (the plugin always sends one).
        user = await store.ensure_user(site.site_id, user_id, None, free)
        email, ensure = user.email, None
    # Claimed at birth: the dispatcher delivers it without claiming it from the store.
    notify = services.dispatcher.claiming(
        plugin_webhooks.credits_updated(site, user_email=email, reason="deduction")
    )
    try:
        result = await store.deduct(
            site.site_id,
            user_id,
            body["credit_type"],
            whole(body["amount"]),
            idempotency_key=idempotency_key,
            reason="generation",
            notify=notify,
            ensure=ensure,
        )
    except IdempotencyKeyReused as exc:
        raise key_reused("Idempotency-Key") from exc
    if not result.ok or result.entry is None:
        raise InsufficientCredits(
            f"Not enough {body['credit_type']} credits", remaining_credits=result.balances.to_api()
        )
    if not result.replayed:
        services.dispatcher.deliver_claimed(notify)
    return {
        "success": True,
        "credit_type": result.entry.credit_type,
        "amount": -result.entry.delta,
        "transaction_id": result.entry.transaction_id,
        "remaining_credits": result.balances.to_api(),
        "replayed": result.replayed,
    }


async def adjust(
    services: Services, site: Site, user_id: int | str, body: dict[str, Any]
) -> dict[str, Any]:
    """An admin's adjustment of one user's credits, once per `adjustment_id`."""
    user_id = user_key(user_id)
    amount = whole(body["amount"])
    store = services.store
    adjustment_id = body.get("adjustment_id") or "adj_" + secrets.token_hex(12)
    # An adjustment_id names one adjustment of the site: its user, type, amount and reason.
    source_ref = f"adjustment:{site.site_id}:{adjustment_id}"
    first = await store.get_ledger_entry(source_ref)
    if first is not None and not same_request(
        first,
        user_id=user_id,
        credit_type=body["credit_type"],
        delta=amount,
        reason=body["reason"],
    ):
        # Refused before ensure_user, so a reuse for a new user creates nobody.
        raise key_reused("adjustment_id")
    user = await store.ensure_user(site.site_id, user_id, None, services.settings.free_credits)
    notify = services.dispatcher.claiming(
        plugin_webhooks.credits_updated(
            site, user_email=user.email, reason="adjustment", extra={"note": body["reason"]}
        )
    )
    try:
        result = await store.adjust(
            site.site_id,
            user_id,
            body["credit_type"],
            amount,
            source_ref,
            reason=body["reason"],
            notify=notify,
        )
    except IdempotencyKeyReused as exc:
        raise key_reused("adjustment_id") from exc
    if not result.ok or result.entry is None:
        raise AdjustmentExceedsBalance(remaining_credits=result.balances.to_api())
    if not result.replayed:
        services.dispatcher.deliver_claimed(notify)
    return {
        "success": True,
        "status": "already_completed" if result.replayed else "completed",
        "transaction_id": result.entry.transaction_id,
        "credit_type": result.entry.credit_type,
        "amount": result.entry.delta,
        "remaining_credits": result.balances.to_api(),
    }


async def ledger_page(
    services: Services,
    *,
    site_id: str | None,
    user_id: int | str | None,
    credit_type: str | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """One page of ledger entries, newest first; `has_more` from one entry past the page."""
    entries = await services.store.list_ledger(
        site_id=site_id,
        user_id=user_key(user_id) if user_id is not None else None,
        credit_type=credit_type,
        limit=limit + 1,
        offset=offset,
    )
    return {
        "success": True,
        "transactions": [e.to_api() for e in entries[:limit]],
        "limit": limit,
        "offset": offset,
        "has_more": len(entries) > limit,
    }
