"""Whose credits: a WordPress user of one site, keyed by the user's id as a string."""

from __future__ import annotations


def user_key(value: int | str) -> str:
    """WordPress user ids arrive as numbers (JSON) or strings (query); we key by the string."""
    return str(int(value))
