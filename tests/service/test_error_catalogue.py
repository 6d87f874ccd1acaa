"""The error catalogue and the spec name the same codes: each error a client can receive is
declared once in `service/errors.py`, and `openapi.yaml` documents every one of them.

The spec names a code in an error response's example (`error: session_not_found`) or in
backticks in an error response's description (`(`amount_mismatch`, `credit_type_mismatch`)`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from service.errors import CATALOGUE, SANIC_ERROR_CODES, ApiError, error_for
from service.http.contract import SPEC_PATH

#: A code is snake_case with at least one underscore; `localhost` or `ETag` are not codes.
CODE = re.compile(r"`([a-z]+(?:_[a-z]+)+)`")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def error_responses(spec: dict[str, Any]) -> Iterator[tuple[int | None, dict[str, Any]]]:
    """(status, response) of every error response; shared responses carry no status."""
    for response in spec["components"]["responses"].values():
        yield None, response
    for item in spec["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                if int(status) >= 400 and "$ref" not in response:
                    yield int(status), response


def property_names(node: Any) -> set[str]:
    """Every schema property name: a backticked field like `adjustment_id` is not a code."""
    names: set[str] = set()
    if isinstance(node, dict):
        names.update(node.get("properties", {}) if isinstance(node.get("properties"), dict) else ())
        for value in node.values():
            names |= property_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= property_names(value)
    return names


def example_errors(response: dict[str, Any]) -> Iterator[str]:
    for media in response.get("content", {}).values():
        example = media.get("example")
        if isinstance(example, dict) and example.get("success") is False:
            yield example["error"]


def documented_codes(spec: dict[str, Any]) -> set[str]:
    fields = property_names(spec["components"]["schemas"])
    codes: set[str] = set()
    for _, response in error_responses(spec):
        codes.update(example_errors(response))
        codes.update(c for c in CODE.findall(response.get("description", "")) if c not in fields)
    return codes


def test_every_documented_code_is_in_the_catalogue_or_sanics(spec: dict[str, Any]) -> None:
    known = {kind.code for kind in CATALOGUE} | {c for c, _ in SANIC_ERROR_CODES.values()}
    assert documented_codes(spec) - known == set()


def test_every_catalogue_code_is_documented(spec: dict[str, Any]) -> None:
    public = {kind.code for kind in CATALOGUE if not kind.internal}
    assert public - documented_codes(spec) == set()


def test_the_spec_finds_codes_not_field_names(spec: dict[str, Any]) -> None:
    codes = documented_codes(spec)
    assert {"insufficient_credits", "amount_mismatch", "site_url_not_public"} <= codes
    assert "adjustment_id" not in codes


def test_each_example_status_is_the_catalogues(spec: dict[str, Any]) -> None:
    """Where an operation's own error example names its status, the catalogue agrees."""
    declared = {(kind.status, kind.code) for kind in CATALOGUE}
    declared |= set(((status, code) for status, (code, _) in SANIC_ERROR_CODES.items()))
    shown = {
        (status, code)
        for status, response in error_responses(spec)
        if status is not None
        for code in example_errors(response)
    }
    assert shown - declared == set()


def test_insufficient_credits_is_402_for_plugins_and_409_for_administrators() -> None:
    assert error_for("insufficient_credits", 402).__name__ == "InsufficientCredits"
    assert error_for("insufficient_credits", 409).__name__ == "AdjustmentExceedsBalance"


def test_each_error_is_declared_once() -> None:
    pairs = [(kind.status, kind.code) for kind in CATALOGUE]
    assert len(pairs) == len(set(pairs))
    assert all(issubclass(kind, ApiError) and kind.message for kind in CATALOGUE)


def test_an_error_answers_its_status_code_message_and_fields() -> None:
    kind = error_for("insufficient_credits", 402)
    response = kind(
        "Not enough article credits", remaining_credits={"article_credits": 0}
    ).to_response()
    assert response.status == 402
    assert b'"error":"insufficient_credits"' in response.body
    assert b'"message":"Not enough article credits"' in response.body
    assert b'"remaining_credits"' in response.body
