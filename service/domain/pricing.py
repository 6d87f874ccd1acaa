"""Server-side pricing: the package decides what is sold and for how much."""

from __future__ import annotations

from typing import Any

from .models import Package

#: Currencies whose smallest unit is the unit itself (Stripe's list).
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)


class PricingError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_purchase_request(package: Package, request: dict[str, Any]) -> None:
    """Reject a request whose amount, currency or credit type disagrees with the package.

    The client's values are only ever compared, never used: the package is the price.
    """
    credit_type = request.get("credit_type")
    if credit_type is not None and credit_type != package.credit_type:
        raise PricingError(
            "credit_type_mismatch",
            f"The package {package.package_id} sells {package.credit_type} credits, "
            f"not {credit_type}",
        )
    amount = request.get("amount")
    currency = request.get("currency")
    if (amount is not None and amount != package.price) or (
        currency is not None and currency.upper() != package.currency.upper()
    ):
        raise PricingError(
            "amount_mismatch",
            f"The package {package.package_id} costs {package.price} {package.currency}, "
            f"not {amount if amount is not None else package.price} "
            f"{(currency or package.currency).upper()}",
        )


def stripe_amount(package: Package) -> int:
    """The amount Stripe wants, in the currency's smallest unit.

    Package prices are already stored in the smallest unit (yen for JPY, cents for USD),
    so this is the price itself; the function exists so that rule lives in one place.
    """
    return package.price
