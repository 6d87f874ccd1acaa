"""PaymentMethods: Stripe's test ones (`pm_card_visa`, ...) and those created by the API, and
how each behaves when an intent is confirmed with it.

Invariant: a PaymentMethod's behaviour is read from what Stripe's docs give it (the test id,
or the test token or test IBAN it was created from, recognised by its `fingerprint`), never
from a field Stripe's objects lack.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from . import objects
from .errors import StripeError, invalid_request
from .forms import get_metadata, get_str
from .resources import CUSTOMER, PAYMENT_METHOD
from .state import StripeState


@dataclass(frozen=True)
class Decline:
    """How a test card fails: Stripe's error code, decline code and message."""

    code: str
    decline_code: str
    message: str


GENERIC_DECLINE = Decline("card_declined", "generic_decline", "Your card was declined.")


@dataclass(frozen=True)
class Behaviour:
    """What confirming an intent with a PaymentMethod does."""

    type: str = "card"  # "card", "sepa_debit" (settles later) or "customer_balance" (funded)
    decline: Decline | None = None  # the card is declined
    authentication: bool = False  # 3-D Secure first: the intent requires_action
    then: str | None = None  # after the charge: "dispute" (funds withdrawn) or "inquiry"
    refund_fails: bool = False  # its refunds succeed, then fail (charge.refund.updated)
    settles: str = "succeeded"  # a debit's outcome: "succeeded", "failed" or "processing"


SUCCEEDS = Behaviour()
# Stripe's test PaymentMethods (docs.stripe.com/testing), by id.
TEST_PAYMENT_METHODS: dict[str, Behaviour] = {
    "pm_card_visa": SUCCEEDS,
    "pm_card_mastercard": SUCCEEDS,
    "pm_card_amex": SUCCEEDS,
    "pm_card_jcb": SUCCEEDS,
    "pm_card_chargeDeclined": Behaviour(decline=GENERIC_DECLINE),
    "pm_card_visa_chargeDeclined": Behaviour(decline=GENERIC_DECLINE),
    "pm_card_chargeDeclinedInsufficientFunds": Behaviour(
        decline=Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
    ),
    "pm_card_chargeDeclinedExpiredCard": Behaviour(
        decline=Decline("expired_card", "expired_card", "Your card has expired.")
    ),
    "pm_card_authenticationRequired": Behaviour(authentication=True),
    "pm_card_createDispute": Behaviour(then="dispute"),
    "pm_card_createDisputeInquiry": Behaviour(then="inquiry"),
    "pm_card_refundFail": Behaviour(refund_fails=True),
}
# Test tokens a card PaymentMethod is created from (`card[token]`), as their test PaymentMethod.
TEST_TOKENS = {
    "tok_visa": "pm_card_visa",
    "tok_mastercard": "pm_card_mastercard",
    "tok_amex": "pm_card_amex",
    "tok_jcb": "pm_card_jcb",
    "tok_chargeDeclined": "pm_card_chargeDeclined",
    "tok_visa_chargeDeclined": "pm_card_visa_chargeDeclined",
    "tok_chargeDeclinedInsufficientFunds": "pm_card_chargeDeclinedInsufficientFunds",
    "tok_chargeDeclinedExpiredCard": "pm_card_chargeDeclinedExpiredCard",
    "tok_createDispute": "pm_card_createDispute",
    "tok_createDisputeInquiry": "pm_card_createDisputeInquiry",
    "tok_refundFail": "pm_card_refundFail",
}
CARD_DETAILS = {  # brand and last4 of the cards behind the test tokens
    "pm_card_mastercard": ("mastercard", "4444"),
    "pm_card_amex": ("amex", "8431"),
    "pm_card_jcb": ("jcb", "0000"),
}
# Stripe's SEPA Direct Debit test IBANs and how their debit ends; any other IBAN succeeds.
SEPA_OUTCOMES = {
    "AT611904300234573201": "succeeded",
    "AT861904300235473202": "failed",
    "AT321904300235473204": "processing",  # succeeds on Stripe after three minutes
    "DE89370400440532013000": "succeeded",
    "DE62370400440532013001": "failed",
    "IT40S0542811101000000123456": "succeeded",
    "IT60X0542811101000000123456": "failed",
}
TYPES = ("card", "sepa_debit", "customer_balance")


def fingerprint(secret: str) -> str:
    """Stripe's `fingerprint`: the same card number or IBAN gives the same one."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


_BY_FINGERPRINT: dict[str, Behaviour] = {
    **{fingerprint(t): TEST_PAYMENT_METHODS[pm] for t, pm in TEST_TOKENS.items()},
    **{fingerprint(i): Behaviour(type="sepa_debit", settles=o) for i, o in SEPA_OUTCOMES.items()},
}


def behaviour(state: StripeState, payment_method: str) -> Behaviour:
    """How a test or stored PaymentMethod behaves; 400 `resource_missing` for an unknown id."""
    if payment_method in TEST_PAYMENT_METHODS:
        return TEST_PAYMENT_METHODS[payment_method]
    stored = state.find(PAYMENT_METHOD, payment_method)
    if stored is None:
        raise StripeError(
            400,
            f"No such PaymentMethod: '{payment_method}'",
            code="resource_missing",
            param="payment_method",
        )
    kind = stored["type"]
    details = stored.get(kind) or {}
    known = _BY_FINGERPRINT.get(str(details.get("fingerprint")))
    if known is not None:
        return known
    return Behaviour(type=kind)


def create_payment_method(state: StripeState, params: dict[str, Any]) -> dict[str, Any]:
    """A card (from a test token), a SEPA debit (from an IBAN) or a customer balance."""
    kind = get_str(params, "type", required=True)
    if kind not in TYPES:
        raise invalid_request(
            f"Invalid type: must be one of {', '.join(TYPES)} in the fake.", param="type"
        )
    details = params.get(kind) or {}
    if not isinstance(details, dict):
        raise invalid_request("Invalid hash", param=kind)
    method = objects.base(
        PAYMENT_METHOD,
        allow_redisplay="unspecified",
        billing_details=_billing_details(params.get("billing_details")),
        customer=None,
        metadata=get_metadata(params),
        type=kind,
    )
    method[kind] = _details(kind, details)
    return state.put(method)


def _details(kind: str, details: dict[str, Any]) -> dict[str, Any]:
    if kind == "card":
        token = get_str(details, "token", required=True) or ""
        test = TEST_TOKENS.get(token)
        if test is None:
            raise StripeError(
                400, f"No such token: '{token}'", code="resource_missing", param="card[token]"
            )
        brand, last4 = CARD_DETAILS.get(test, ("visa", "4242"))
        return {
            "brand": brand,
            "country": "US",
            "exp_month": 12,
            "exp_year": time.gmtime().tm_year + 3,
            "fingerprint": fingerprint(token),
            "funding": "credit",
            "last4": last4,
        }
    if kind == "sepa_debit":
        iban = (get_str(details, "iban", required=True) or "").replace(" ", "").upper()
        if len(iban) < 15 or not iban[:2].isalpha():
            raise invalid_request("Invalid IBAN.", param="sepa_debit[iban]", code="invalid_iban")
        return {
            "bank_code": iban[4:9],
            "branch_code": "",
            "country": iban[:2],
            "fingerprint": fingerprint(iban),
            "last4": iban[-4:],
        }
    return {}


def _billing_details(raw: Any) -> dict[str, Any]:
    raw = raw if isinstance(raw, dict) else {}
    address = raw.get("address") if isinstance(raw.get("address"), dict) else {}
    return {
        "address": {
            k: address.get(k) for k in ("city", "country", "line1", "line2", "postal_code", "state")
        },
        "email": raw.get("email"),
        "name": raw.get("name"),
        "phone": raw.get("phone"),
    }


def attach(state: StripeState, method: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """Attach a stored PaymentMethod to a customer."""
    state.get(CUSTOMER, customer_id, param="customer")
    method["customer"] = customer_id
    return state.put(method)
