"""Products and Prices: what a Checkout Session's `line_items[][price]` names."""

from __future__ import annotations

from typing import Any

from . import objects
from .errors import invalid_request
from .forms import get_bool, get_int, get_metadata, get_str
from .resources import PRICE, PRODUCT
from .state import StripeState


def create_product(state: StripeState, params: dict[str, Any]) -> dict[str, Any]:
    """An active product with `name` (required), `description` and `metadata`."""
    product = objects.base(
        PRODUCT,
        active=True if params.get("active") is None else get_bool(params, "active"),
        default_price=None,
        description=get_str(params, "description"),
        images=[],
        metadata=get_metadata(params),
        name=get_str(params, "name", required=True),
        updated=objects.now(),
        url=None,
    )
    return state.put(product)


def create_price(state: StripeState, params: dict[str, Any]) -> dict[str, Any]:
    """A one-time price of `unit_amount` in `currency` for a stored `product`."""
    product_id = get_str(params, "product", required=True) or ""
    state.get(PRODUCT, product_id, param="product")
    unit_amount = get_int(params, "unit_amount", required=True) or 0
    if unit_amount < 0:
        raise invalid_request("This value must be greater than or equal to 0.", param="unit_amount")
    if params.get("recurring") is not None:
        raise invalid_request("The fake makes one-time prices only.", param="recurring")
    price = objects.base(
        PRICE,
        active=True,
        billing_scheme="per_unit",
        currency=(get_str(params, "currency", required=True) or "").lower(),
        lookup_key=get_str(params, "lookup_key"),
        metadata=get_metadata(params),
        nickname=get_str(params, "nickname"),
        product=product_id,
        recurring=None,
        tax_behavior="unspecified",
        type="one_time",
        unit_amount=unit_amount,
        unit_amount_decimal=str(unit_amount),
    )
    return state.put(price)
