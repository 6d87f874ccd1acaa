"""A user's credits: read, spend, and the ledger."""

from __future__ import annotations

from ..domain import plugin_webhooks
from ..errors import ApiError, IdempotencyKeyConflict, InsufficientCredits
from ..store import IdempotencyKeyReused
from .registry import Call, Operations, Reply

ops = Operations()


def user_key(value: int | str) -> str:
    """WordPress user ids arrive as numbers (JSON) or strings (query); we key by the string."""
    return str(int(value))


def key_reused(name: str) -> ApiError:
    """A key that settled a different request: Stripe's answer, never the first result."""
    return IdempotencyKeyConflict(f"This {name} was already used for a different request")


@ops("getUserCredits")
async def get_user_credits(call: Call) -> Reply:
    site = call.own_site
    user_id = user_key(call.params["user_id"])
    user = await call.services.store.ensure_user(
        site.site_id,
        user_id,
        call.params.get("user_email") or None,
        call.services.settings.free_credits,
    )
    return {"success": True, "user_id": user_id, "credits": user.balances.to_api()}


@ops("deductCredits")
async def deduct_credits(call: Call) -> Reply:
    site = call.own_site
    body = call.body
    user_id = user_key(body["user_id"])
    email = body.get("user_email") or None
    store = call.services.store
    user = await store.ensure_user(
        site.site_id, user_id, email, call.services.settings.free_credits
    )
    try:
        result = await store.deduct(
            site.site_id,
            user_id,
            body["credit_type"],
            body["amount"],
            idempotency_key=call.params.get("Idempotency-Key"),
            reason="generation",
            notify=plugin_webhooks.credits_updated(
                site, user_email=email or user.email, reason="deduction"
            ),
        )
    except IdempotencyKeyReused as exc:
        raise key_reused("Idempotency-Key") from exc
    if not result.ok or result.entry is None:
        raise InsufficientCredits(
            f"Not enough {body['credit_type']} credits", remaining_credits=result.balances.to_api()
        )
    if not result.replayed:
        call.services.dispatcher.wake()
    return {
        "success": True,
        "credit_type": result.entry.credit_type,
        "amount": -result.entry.delta,
        "transaction_id": result.entry.transaction_id,
        "remaining_credits": result.balances.to_api(),
        "replayed": result.replayed,
    }


@ops("listUserTransactions")
async def list_user_transactions(call: Call) -> Reply:
    limit, offset = call.params["limit"], call.params["offset"]
    entries = await call.services.store.list_ledger(
        site_id=call.own_site.site_id,
        user_id=user_key(call.params["user_id"]),
        credit_type=call.params.get("credit_type"),
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
