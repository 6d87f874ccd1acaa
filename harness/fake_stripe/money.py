"""Amounts in the smallest currency unit, and how Stripe's checkout page shows them."""

from __future__ import annotations

# Currencies whose smallest unit is the whole unit (Stripe's list of zero-decimal currencies).
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)

_SYMBOLS = {"jpy": "¥", "usd": "$", "eur": "€", "gbp": "£", "krw": "₩", "cny": "CN¥"}


def format_amount(amount: int, currency: str) -> str:
    """Format `amount` (smallest unit) for display: 1500 jpy -> "¥1,500", 1999 usd -> "$19.99"."""
    code = currency.lower()
    symbol = _SYMBOLS.get(code, code.upper() + " ")
    if code in ZERO_DECIMAL_CURRENCIES:
        return f"{symbol}{amount:,}"
    return f"{symbol}{amount / 100:,.2f}"
