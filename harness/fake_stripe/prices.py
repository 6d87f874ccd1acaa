"""Prices: one-time prices of stored products (`POST /v1/prices`), and the inline ones a
Checkout Session's `line_items[][price_data]` makes."""

from __future__ import annotations

from typing import Any

from . import objects
from .errors import invalid_request
from .forms import get_int, get_metadata, get_str
from .resources import PRICE, PRODUCT
from .state import StripeState


def create_price(state: StripeState, params: dict[str, Any]) -> dict[str, Any]:
    """A one-time price of `unit_amount` in `currency` for a stored `product`."""
    product_id = get_str(params, "product", required=True) or ""
    state.get(PRODUCT, product_id, param="product")
    unit_amount = get_int(params, "unit_amount", required=True) or 0
    if unit_amount < 0:
        raise invalid_request("This value must be greater than or equal to 0.", param="unit_amount")
    if params.get("recurring") is not None:
        raise invalid_request("The fake makes one-time prices only.", param="recurring")
    price = build_price(
        (get_str(params, "currency", required=True) or "").lower(), unit_amount, product_id
    )
    price.update(
        lookup_key=get_str(params, "lookup_key"),
        metadata=get_metadata(params),
        nickname=get_str(params, "nickname"),
    )
    return state.put(price)


def build_price(currency: str, unit_amount: int, product: str | None = None) -> dict[str, Any]:
    """A one-time price object (not stored); without `product`, of a product made inline."""
    return objects.base(
        PRICE,
        active=True,
        billing_scheme="per_unit",
        currency=currency,
        lookup_key=None,
        metadata={},
        nickname=None,
        product=product or objects.new_id(PRODUCT.prefix),
        recurring=None,
        tax_behavior="unspecified",
        type="one_time",
        unit_amount=unit_amount,
        unit_amount_decimal=str(unit_amount),
    )
