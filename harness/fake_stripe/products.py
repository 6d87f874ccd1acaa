"""Products: what a Price sells (`POST /v1/prices` names one)."""

from __future__ import annotations

from typing import Any

from . import objects
from .forms import get_bool, get_metadata, get_str
from .resources import PRODUCT
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
