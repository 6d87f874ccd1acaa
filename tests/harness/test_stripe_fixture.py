"""The Stripe CLI fixture runner's parts: param changes, references, Stripe's form encoding."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.stripe_fixture import (
    ParamChange,
    change_params,
    fill,
    fixture_events,
    form_pairs,
    load_fixture,
)


def test_the_cli_payment_fixtures_are_packaged_with_their_license() -> None:
    assert len(fixture_events()) == 20
    assert all(load_fixture(event)["fixtures"] for event in fixture_events())


@pytest.mark.parametrize(
    ("kind", "text", "params", "after"),
    [
        ("override", "pi:amount=5", {"amount": 1}, {"amount": "5"}),
        ("add", "pi:metadata.order_id=6735", {}, {"metadata": {"order_id": "6735"}}),
        (
            "override",
            "cs:line_items[0][quantity]=3",
            {"line_items": [{"price": "p", "quantity": 2}]},
            {"line_items": [{"price": "p", "quantity": "3"}]},
        ),
        (
            "add",
            "cs:line_items.1.quantity=4",
            {"line_items": [{}]},
            {"line_items": [{}, {"quantity": "4"}]},
        ),
        ("remove", "pi:shipping", {"shipping": {"name": "J"}, "amount": 1}, {"amount": 1}),
        ("remove", "pi:shipping.address.line1", {"amount": 1}, {"amount": 1}),
        ("override", "pi:confirm=", {"confirm": True}, {"confirm": ""}),
    ],
)
def test_a_change_edits_one_param(kind, text, params, after) -> None:
    ParamChange.parse(kind, text).apply(params)

    assert params == after


@pytest.mark.parametrize(
    ("kind", "text"),
    [("override", "amount=5"), ("add", "pi:amount"), ("remove", "pi:"), ("add", ":a=1")],
)
def test_a_malformed_change_says_what_it_expected(kind, text) -> None:
    with pytest.raises(ValueError, match="expected name:path|no parameter path"):
        ParamChange.parse(kind, text)


def test_a_change_naming_no_call_lists_the_calls_and_leaves_the_file_alone() -> None:
    fixture = load_fixture("charge.refunded")

    with pytest.raises(
        HarnessError, match=r"--override charge: no such call.*'payment_intent', 'refund'"
    ):
        change_params(fixture, [ParamChange.parse("override", "charge:amount=5")])
    changed = change_params(fixture, [ParamChange.parse("override", "payment_intent:amount=5")])
    assert changed["fixtures"][0]["params"]["amount"] == "5"
    assert load_fixture("charge.refunded")["fixtures"][0]["params"]["amount"] == 100


def test_references_read_earlier_answers_and_a_missing_one_fails_its_step() -> None:
    answers = {"list": {"data": [{"id": "dp_1"}]}, "pi": {"id": "pi_1"}}

    assert fill({"p": "/v1/disputes/${list:data.0.id}/close", "q": ["${pi:id}"]}, answers) == {
        "p": "/v1/disputes/dp_1/close",
        "q": ["pi_1"],
    }
    with pytest.raises(HarnessError, match="no answer named refund"):
        fill("${refund:id}", answers)
    with pytest.raises(HarnessError, match="has no 'charge'"):
        fill("${pi:charge}", answers)


def test_params_are_form_encoded_as_stripe_reads_them() -> None:
    params = {
        "amount": 100,
        "confirm": True,
        "payment_method_types": ["card"],
        "payment_method_types[]": "customer_balance",
        "shipping": {"address": {"line1": "510 Townsend St"}},
        "line_items": [{"price": "price_1", "quantity": 2}],
    }

    assert form_pairs(params) == [
        ("amount", "100"),
        ("confirm", "true"),
        ("payment_method_types[0]", "card"),
        ("payment_method_types[]", "customer_balance"),
        ("shipping[address][line1]", "510 Townsend St"),
        ("line_items[0][price]", "price_1"),
        ("line_items[0][quantity]", "2"),
    ]
