"""A user's credits: read, spend, and the ledger."""

from __future__ import annotations

from ...flows import credits
from .registry import Call, Operations, Reply

ops = Operations()


@ops("getUserCredits")
async def get_user_credits(call: Call) -> Reply:
    return await credits.user_credits(
        call.services, call.own_site, call.params["user_id"], call.params.get("user_email")
    )


@ops("deductCredits")
async def deduct_credits(call: Call) -> Reply:
    return await credits.deduct(
        call.services, call.own_site, call.body, call.params.get("Idempotency-Key")
    )


@ops("listUserTransactions")
async def list_user_transactions(call: Call) -> Reply:
    return await credits.ledger_page(
        call.services,
        site_id=call.own_site.site_id,
        user_id=call.params["user_id"],
        credit_type=call.params.get("credit_type"),
        limit=call.params["limit"],
        offset=call.params["offset"],
    )
