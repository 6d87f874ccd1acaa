"""PaymentMethods: Stripe's test cards, made into `pm_...` objects, and how each one pays.

Invariant: a card's outcome is decided by its number alone. A stored PaymentMethod keeps only
what Stripe shows (brand, last4, expiry, `fingerprint`); the fingerprint, like Stripe's, is a
function of the number, so it names the test card whose outcome the PaymentMethod has.
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
from .resources import PAYMENT_METHOD
from .state import StripeState


@dataclass(frozen=True)
class Decline:
    """How a test card fails: Stripe's error code, decline code and message."""

    code: str
    decline_code: str
    message: str


@dataclass(frozen=True)
class Authentication:
    """The card asks for 3-D Secure before it pays."""


Outcome = Decline | Authentication | None  # None: the card pays

GENERIC_DECLINE = Decline("card_declined", "generic_decline", "Your card was declined.")
INSUFFICIENT_FUNDS = Decline(
    "card_declined", "insufficient_funds", "Your card has insufficient funds."
)
EXPIRED_CARD = Decline("expired_card", "expired_card", "Your card has expired.")
REQUIRES_AUTHENTICATION = Authentication()


@dataclass(frozen=True)
class TestCard:
    """One of Stripe's test card numbers."""

    brand: str
    outcome: Outcome


TEST_CARDS: dict[str, TestCard] = {
    "4242424242424242": TestCard("visa", None),
    "5555555555554444": TestCard("mastercard", None),
    "378282246310005": TestCard("amex", None),
    "3566002020360505": TestCard("jcb", None),
    "4000000000000002": TestCard("visa", GENERIC_DECLINE),
    "4000000000009995": TestCard("visa", INSUFFICIENT_FUNDS),
    "4000000000000069": TestCard("visa", EXPIRED_CARD),
    "4000002500003155": TestCard("visa", REQUIRES_AUTHENTICATION),
    "4000002760003184": TestCard("visa", REQUIRES_AUTHENTICATION),
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
}

LIVE_CARD_MESSAGE = (
    "Your card was declined. Your request was in test mode, but used a non test (live) card. "
    "For a list of valid test cards, visit: https://stripe.com/docs/testing."
)


def fingerprint(number: str) -> str:
    """The card's fingerprint: the same for every PaymentMethod made from one number."""
    return hashlib.sha256(f"fake-stripe-card:{number}".encode()).hexdigest()[:16]


_BY_FINGERPRINT = {fingerprint(number): number for number in TEST_CARDS}


def outcome_of(state: StripeState, payment_method: str) -> Outcome:
    """How confirming with `payment_method` ends; Stripe's 400 for an unknown id."""
    number = TEST_PAYMENT_METHODS.get(payment_method)
    if number is None:
        stored = state.find(PAYMENT_METHOD, payment_method)
        if stored is None:
            raise StripeError(
                400,
                f"No such PaymentMethod: '{payment_method}'",
                code="resource_missing",
                param="payment_method",
            )
        number = _BY_FINGERPRINT[stored["card"]["fingerprint"]]
    return TEST_CARDS[number].outcome


def create_payment_method(state: StripeState, params: Mapping[str, Any]) -> dict[str, Any]:
    """A card PaymentMethod from `card[number]`, `card[exp_month]`, `card[exp_year]`, `card[cvc]`.

    Bad input answers like Stripe: 400 for a missing or malformed parameter, a 402
    `card_error` for a number, expiry or CVC a card cannot have, or a number that is not
    one of the test cards.
    """
    kind = params.get("type")
    if kind in (None, ""):
        raise invalid_request("Missing required param: type.", param="type")
    if kind != "card":
        raise invalid_request(
            f"Invalid type: the fake Stripe makes only card PaymentMethods, not {kind!r}.",
            param="type",
        )
    card = params.get("card")
    if not isinstance(card, dict):
        raise invalid_request("Missing required param: card.", param="card")
    number = _card_number(card)
    exp_month, exp_year = _expiry(card)
    cvc = _cvc(card, number)
    billing = params.get("billing_details") or {}
    if not isinstance(billing, dict):
        raise invalid_request("Invalid hash", param="billing_details")
    method = objects.base(PAYMENT_METHOD)
    method.update(
        _card_object(method["id"], number, exp_month, exp_year, cvc, billing, get_metadata(params))
    )
    return state.put(method)


def _card_object(
    method_id: str,
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str | None,
    billing: Mapping[str, Any],
    metadata: dict[str, str],
) -> dict[str, Any]:
    brand = TEST_CARDS[number].brand
    return {
        "id": method_id,
        "object": PAYMENT_METHOD.object,
        "billing_details": {
            "address": None,
            "email": _optional_str(billing, "email"),
            "name": _optional_str(billing, "name"),
            "phone": _optional_str(billing, "phone"),
        },
        "card": {
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
        },
        "created": objects.now(),
        "customer": None,
        "livemode": False,
        "metadata": metadata,
        "type": "card",
    }


def card_error(message: str, code: str, param: str, **extra: Any) -> StripeError:
    """The HTTP 402 `card_error` Stripe answers card details it cannot use with."""
    return StripeError(402, message, type="card_error", code=code, param=param, extra=extra)


def _required(card: Mapping[str, Any], field: str) -> str:
    raw = card.get(field)
    if raw is None or raw == "":
        raise invalid_request(f"Missing required param: card[{field}].", param=f"card[{field}]")
    if not isinstance(raw, str):
        raise invalid_request(f"Invalid string: {raw!r}", param=f"card[{field}]")
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
