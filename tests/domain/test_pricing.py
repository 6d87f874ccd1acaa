"""Server-side pricing: the package is the price; the client's values are only compared."""

from __future__ import annotations

import pytest

from service.domain.catalogue import DEFAULT_PACKAGES
from service.domain.models import Package
from service.domain.pricing import (
    PricingError,
    check_purchase_request,
    stripe_amount,
)

STARTER = next(p for p in DEFAULT_PACKAGES if p.package_id == "article_starter")
USD = Package("usd_pack", "USD Pack", "image", 10, 499, "USD")


@pytest.mark.parametrize(
    "request_body",
    [
        {},
        {"amount": 750, "currency": "JPY", "credit_type": "article"},
        {"amount": 750},
        {"currency": "jpy"},
        {"credit_type": "article"},
        {"amount": None, "currency": None, "credit_type": None},
    ],
)
def test_a_request_that_agrees_with_the_package_passes(request_body):
    check_purchase_request(STARTER, request_body)


@pytest.mark.parametrize("amount", [1, 749, 751, 7500, 0])
def test_any_other_amount_is_amount_mismatch(amount):
    with pytest.raises(PricingError) as raised:
        check_purchase_request(STARTER, {"amount": amount, "currency": "JPY"})
    assert raised.value.code == "amount_mismatch"
    assert "750" in raised.value.message


def test_another_currency_is_amount_mismatch():
    with pytest.raises(PricingError) as raised:
        check_purchase_request(STARTER, {"amount": 750, "currency": "USD"})
    assert raised.value.code == "amount_mismatch"


@pytest.mark.parametrize("credit_type", ["image", "rewrite"])
def test_another_credit_type_is_credit_type_mismatch(credit_type):
    with pytest.raises(PricingError) as raised:
        check_purchase_request(STARTER, {"credit_type": credit_type, "amount": 750})
    assert raised.value.code == "credit_type_mismatch"


def test_stripe_is_charged_the_package_price_in_the_smallest_unit():
    assert stripe_amount(STARTER) == 750
    assert stripe_amount(USD) == 499
