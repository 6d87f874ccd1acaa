"""PaymentMethods: Stripe's test ones (`pm_card_visa`, ...) and those made by the API from a
test card number (Stripe.js), a test token (`tok_visa`) or an IBAN, and how each one pays.

Invariant: a PaymentMethod's behaviour is that of the test card or test IBAN it stands for,
read from Stripe's test id or from its `fingerprint`, never from a field Stripe's objects lack.
A stored PaymentMethod keeps only what Stripe shows (brand, last4, expiry, fingerprint; never
the card number or the IBAN); the fingerprint, like Stripe's, is a function of the number (or
IBAN), so it names the test card (or IBAN) whose behaviour the PaymentMethod has.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import objects
from .errors import StripeError, invalid_request
from .forms import get_metadata
from .resources import CUSTOMER, PAYMENT_METHOD
from .state import StripeState


@dataclass(frozen=True)
class Decline:
    """How a test card fails: Stripe's error code, decline code and message."""

    code: str
    decline_code: str
    message: str


GENERIC_DECLINE = Decline("card_declined", "generic_decline", "Your card was declined.")
INSUFFICIENT_FUNDS = Decline(
    "card_declined", "insufficient_funds", "Your card has insufficient funds."
)
EXPIRED_CARD = Decline("expired_card", "expired_card", "Your card has expired.")


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


@dataclass(frozen=True)
class TestCard:
    """One of Stripe's test card numbers."""

    brand: str
    behaviour: Behaviour = SUCCEEDS


# Stripe's test card numbers (docs.stripe.com/testing); any other number is a live card.
TEST_CARDS: dict[str, TestCard] = {
    "4242424242424242": TestCard("visa"),
    "5555555555554444": TestCard("mastercard"),
    "378282246310005": TestCard("amex"),
    "3566002020360505": TestCard("jcb"),
    "4000000000000002": TestCard("visa", Behaviour(decline=GENERIC_DECLINE)),
    "4000000000009995": TestCard("visa", Behaviour(decline=INSUFFICIENT_FUNDS)),
    "4000000000000069": TestCard("visa", Behaviour(decline=EXPIRED_CARD)),
    "4000002500003155": TestCard("visa", Behaviour(authentication=True)),
    "4000002760003184": TestCard("visa", Behaviour(authentication=True)),
    "4000000000000259": TestCard("visa", Behaviour(then="dispute")),
    "4000000000001976": TestCard("visa", Behaviour(then="inquiry")),
    "4000000000005126": TestCard("visa", Behaviour(refund_fails=True)),
}

# Stripe's test PaymentMethods, each standing for one test card.
TEST_PAYMENT_METHODS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_jcb": "3566002020360505",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_createDispute": "4000000000000259",
    "pm_card_createDisputeInquiry": "4000000000001976",
    "pm_card_refundFail": "4000000000005126",
}
# Stripe's test tokens a card PaymentMethod is made from (`card[token]`), each one test card.
TEST_TOKENS: dict[str, str] = {
    "tok_visa": "4242424242424242",
    "tok_mastercard": "5555555555554444",
    "tok_amex": "378282246310005",
    "tok_jcb": "3566002020360505",
    "tok_chargeDeclined": "4000000000000002",
    "tok_visa_chargeDeclined": "4000000000000002",
    "tok_chargeDeclinedInsufficientFunds": "4000000000009995",
    "tok_chargeDeclinedExpiredCard": "4000000000000069",
    "tok_createDispute": "4000000000000259",
    "tok_createDisputeInquiry": "4000000000001976",
    "tok_refundFail": "4000000000005126",
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

LIVE_CARD_MESSAGE = (
    "Your card was declined. Your request was in test mode, but used a non test (live) card. "
    "For a list of valid test cards, visit: https://stripe.com/docs/testing."
)


def fingerprint(number: str) -> str:
    """The card's fingerprint: the same for every PaymentMethod made from one number."""
    return hashlib.sha256(f"fake-stripe-card:{number}".encode()).hexdigest()[:16]


def iban_fingerprint(iban: str) -> str:
    """A SEPA debit's fingerprint: the same for every PaymentMethod made from one IBAN."""
    return hashlib.sha256(f"fake-stripe-iban:{iban}".encode()).hexdigest()[:16]


_CARD_BY_FINGERPRINT = {fingerprint(number): card for number, card in TEST_CARDS.items()}
_DEBIT_BY_FINGERPRINT = {
    iban_fingerprint(iban): Behaviour(type="sepa_debit", settles=outcome)
    for iban, outcome in SEPA_OUTCOMES.items()
}


def behaviour(state: StripeState, payment_method: str) -> Behaviour:
    """How a test or stored PaymentMethod behaves; Stripe's 400 for an unknown id."""
    number = TEST_PAYMENT_METHODS.get(payment_method)
    if number is not None:
        return TEST_CARDS[number].behaviour
    stored = state.find(PAYMENT_METHOD, payment_method)
    if stored is None:
        raise StripeError(
            400,
            f"No such PaymentMethod: '{payment_method}'",
            code="resource_missing",
            param="payment_method",
        )
    kind = stored["type"]
    mark = str((stored.get(kind) or {}).get("fingerprint"))
    if kind == "card":
        return _CARD_BY_FINGERPRINT[mark].behaviour
    return _DEBIT_BY_FINGERPRINT.get(mark, Behaviour(type=kind))


def create_payment_method(state: StripeState, params: Mapping[str, Any]) -> dict[str, Any]:
    """A card (`card[number]`, `card[exp_month]`, `card[exp_year]`, `card[cvc]`, or
    `card[token]`), a SEPA debit (`sepa_debit[iban]`) or a customer balance PaymentMethod.

    Bad input answers like Stripe: 400 for a missing or malformed parameter, a 402
    `card_error` for a number, expiry or CVC a card cannot have, or a number that is not
    one of the test cards.
    """
    kind = params.get("type")
    if kind in (None, ""):
        raise invalid_request("Missing required param: type.", param="type")
    if kind not in TYPES:
        raise invalid_request(
            f"Invalid type: the fake Stripe makes {', '.join(TYPES)} PaymentMethods, not {kind!r}.",
            param="type",
        )
    details = params.get(kind)
    if details is None and kind == "customer_balance":
        details = {}
    if not isinstance(details, dict):
        raise invalid_request(f"Missing required param: {kind}.", param=kind)
    billing = params.get("billing_details") or {}
    if not isinstance(billing, dict):
        raise invalid_request("Invalid hash", param="billing_details")
    method = objects.base(
        PAYMENT_METHOD,
        allow_redisplay="unspecified",
        billing_details=_billing_details(billing),
        customer=None,
        metadata=get_metadata(params),
        type=kind,
    )
    method[kind] = _details(kind, details)
    return state.put(method)


def _details(kind: str, details: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "card":
        if details.get("token") not in (None, ""):
            return _token_card(_required(details, "token", "card"))
        number = _card_number(details)
        exp_month, exp_year = _expiry(details)
        return _card(number, exp_month, exp_year, _cvc(details, number))
    if kind == "sepa_debit":
        iban = _required(details, "iban", "sepa_debit").replace(" ", "").upper()
        if len(iban) < 15 or not iban[:2].isalpha() or not iban.isalnum():
            raise invalid_request("Invalid IBAN.", param="sepa_debit[iban]", code="invalid_iban")
        return {
            "bank_code": iban[4:9],
            "branch_code": "",
            "country": iban[:2],
            "fingerprint": iban_fingerprint(iban),
            "last4": iban[-4:],
        }
    return {}


def _token_card(token: str) -> dict[str, Any]:
    number = TEST_TOKENS.get(token)
    if number is None:
        raise StripeError(
            400, f"No such token: '{token}'", code="resource_missing", param="card[token]"
        )
    return _card(number, 12, datetime.date.today().year + 3, None)


def _card(number: str, exp_month: int, exp_year: int, cvc: str | None) -> dict[str, Any]:
    brand = TEST_CARDS[number].brand
    return {
        "brand": brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass" if cvc else None,
        },
        "country": "US",
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": fingerprint(number),
        "funding": "credit",
        "last4": number[-4:],
        "networks": {"available": [brand], "preferred": None},
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def _billing_details(raw: Mapping[str, Any]) -> dict[str, Any]:
    address = raw.get("address")
    return {
        "address": (
            {
                k: _optional_str(address, k)
                for k in ("city", "country", "line1", "line2", "postal_code", "state")
            }
            if isinstance(address, dict)
            else None
        ),
        "email": _optional_str(raw, "email"),
        "name": _optional_str(raw, "name"),
        "phone": _optional_str(raw, "phone"),
    }


def attach(state: StripeState, method: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """Attach a stored PaymentMethod to a customer."""
    state.get(CUSTOMER, customer_id, param="customer")
    method["customer"] = customer_id
    return state.put(method)


def card_error(message: str, code: str, param: str, **extra: Any) -> StripeError:
    """The HTTP 402 `card_error` Stripe answers card details it cannot use with."""
    return StripeError(402, message, type="card_error", code=code, param=param, extra=extra)


def _required(details: Mapping[str, Any], field: str, kind: str = "card") -> str:
    raw = details.get(field)
    if raw is None or raw == "":
        raise invalid_request(f"Missing required param: {kind}[{field}].", param=f"{kind}[{field}]")
    if not isinstance(raw, str):
        raise invalid_request(f"Invalid string: {raw!r}", param=f"{kind}[{field}]")
    return raw.strip()


def _card_number(card: Mapping[str, Any]) -> str:
    number = _required(card, "number")
    if not (number.isascii() and number.isdigit() and 12 <= len(number) <= 19 and _luhn(number)):
        raise card_error("Your card number is incorrect.", "incorrect_number", "card[number]")
    if number not in TEST_CARDS:
        raise card_error(
            LIVE_CARD_MESSAGE, "card_declined", "card[number]", decline_code="test_mode_live_card"
        )
    return number


def _luhn(number: str) -> bool:
    total = 0
    for i, digit in enumerate(int(d) for d in reversed(number)):
        doubled = digit * 2 if i % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def _expiry(card: Mapping[str, Any]) -> tuple[int, int]:
    month_text, year_text = _required(card, "exp_month"), _required(card, "exp_year")
    if not (month_text.isascii() and month_text.isdigit() and 1 <= int(month_text) <= 12):
        raise card_error(
            "Your card's expiration month is invalid.", "invalid_expiry_month", "card[exp_month]"
        )
    if not (year_text.isascii() and year_text.isdigit() and len(year_text) in (2, 4)):
        raise card_error(
            "Your card's expiration year is invalid.", "invalid_expiry_year", "card[exp_year]"
        )
    month, year = int(month_text), int(year_text)
    year += 2000 if year < 100 else 0
    today = datetime.date.today()
    if year < today.year or year > today.year + 50:
        raise card_error(
            "Your card's expiration year is invalid.", "invalid_expiry_year", "card[exp_year]"
        )
    if (year, month) < (today.year, today.month):
        raise card_error(
            "Your card's expiration month is invalid.", "invalid_expiry_month", "card[exp_month]"
        )
    return month, year


def _cvc(card: Mapping[str, Any], number: str) -> str | None:
    if card.get("cvc") in (None, ""):
        return None
    cvc = _required(card, "cvc")
    length = 4 if TEST_CARDS[number].brand == "amex" else 3
    if not (cvc.isascii() and cvc.isdigit() and len(cvc) == length):
        raise card_error("Your card's security code is invalid.", "invalid_cvc", "card[cvc]")
    return cvc


def _optional_str(params: Mapping[str, Any], key: str) -> str | None:
    value = params.get(key)
    return value if isinstance(value, str) and value else None
