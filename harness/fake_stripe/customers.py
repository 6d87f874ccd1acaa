"""Customers, and the test helper that funds their cash balance (bank transfers)."""

from __future__ import annotations

from typing import Any

from . import objects, payment_intents
from .errors import invalid_request
from .forms import get_int, get_metadata, get_str
from .resources import CASH_BALANCE_TRANSACTION, CUSTOMER, PAYMENT_INTENT
from .state import StripeState

# A cash balance's currency -> the bank transfer that funds it (`funded.bank_transfer.type`).
BANK_TRANSFERS = {
    "eur": "eu_bank_transfer",
    "gbp": "gb_bank_transfer",
    "jpy": "jp_bank_transfer",
    "mxn": "mx_bank_transfer",
    "usd": "us_bank_transfer",
}


def create_customer(state: StripeState, params: dict[str, Any]) -> dict[str, Any]:
    """A customer with the given `description`, `email`, `name` and `metadata`."""
    customer = objects.base(
        CUSTOMER,
        balance=0,
        currency=None,
        default_source=None,
        delinquent=False,
        description=get_str(params, "description"),
        email=get_str(params, "email"),
        invoice_prefix=objects.random_token(8).upper(),
        metadata=get_metadata(params),
        name=get_str(params, "name"),
        phone=get_str(params, "phone"),
        preferred_locales=[],
        shipping=None,
    )
    return state.put(customer)


def update_customer(
    state: StripeState, customer: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Change the fields given; metadata keys are merged, as on Stripe."""
    for key in ("description", "email", "name", "phone"):
        if key in params:
            customer[key] = get_str(params, key)
    if "metadata" in params:
        customer["metadata"] = {**customer["metadata"], **get_metadata(params)}
        customer["metadata"] = {k: v for k, v in customer["metadata"].items() if v != ""}
    return state.put(customer)


def fund_cash_balance(
    state: StripeState, customer: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """A bank transfer reaches the customer's cash balance and pays their waiting intents,
    oldest first (payment_intent.partially_funded, or payment_intent.succeeded when paid)."""
    amount = get_int(params, "amount", required=True) or 0
    currency = (get_str(params, "currency", required=True) or "").lower()
    if amount < 1:
        raise invalid_request("This value must be greater than or equal to 1.", param="amount")
    transfer = BANK_TRANSFERS.get(currency)
    if transfer is None:
        raise invalid_request(
            f"Bank transfers fund cash balances in {', '.join(BANK_TRANSFERS)} only.",
            param="currency",
        )
    funded = objects.base(
        CASH_BALANCE_TRANSACTION,
        currency=currency,
        customer=customer["id"],
        ending_balance=0,
        funded={"bank_transfer": {"reference": get_str(params, "reference"), "type": transfer}},
        net_amount=amount,
        type="funded",
    )
    left = amount
    waiting = [
        intent
        for intent in reversed(state.newest_first(PAYMENT_INTENT))
        if intent.get("customer") == customer["id"]
        and intent["currency"] == currency
        and payment_intents.awaits_funding(intent)
    ]
    for intent in waiting:
        if left == 0:
            break
        left -= payment_intents.apply_funds(state, state.get(PAYMENT_INTENT, intent["id"]), left)
    funded["ending_balance"] = left
    return funded
