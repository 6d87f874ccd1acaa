"""Stripe's bracketed form encoding decodes into nested dicts and lists."""

from __future__ import annotations

import pytest

from harness.fake_stripe.errors import StripeError
from harness.fake_stripe.forms import decode_form, get_int, reject_unknown


def test_nested_brackets_become_dicts_and_lists() -> None:
    body = (
        "mode=payment&line_items[0][price_data][currency]=jpy"
        "&line_items[0][price_data][product_data][name]=Credits&line_items[0][quantity]=2"
        "&line_items[1][quantity]=1&metadata[user_id]=42"
    )

    assert decode_form(body) == {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {"currency": "jpy", "product_data": {"name": "Credits"}},
                "quantity": "2",
            },
            {"quantity": "1"},
        ],
        "metadata": {"user_id": "42"},
    }


def test_empty_brackets_append_and_indexes_sort_numerically() -> None:
    assert decode_form("expand[]=a&expand[]=b") == {"expand": ["a", "b"]}
    assert decode_form("x[10]=k&x[2]=c") == {"x": ["c", "k"]}


def test_url_encoding_is_undone() -> None:
    assert decode_form("success_url=https%3A%2F%2Fx%2F%3Fid%3D%7BCHECKOUT_SESSION_ID%7D") == {
        "success_url": "https://x/?id={CHECKOUT_SESSION_ID}"
    }


def test_bad_integers_and_unknown_params_are_stripe_400s() -> None:
    with pytest.raises(StripeError) as bad_int:
        get_int({"amount": "ten"}, "amount")
    with pytest.raises(StripeError) as unknown:
        reject_unknown({"amount": "1", "colour": "red"}, ["amount"])

    assert (bad_int.value.status, bad_int.value.param) == (400, "amount")
    assert unknown.value.to_json()["error"]["param"] == "colour"
