"""The compiled validators (jsonschema-rs) only ever skip the Python validator: whatever they
call valid, the spec's own validator (python-jsonschema) calls valid too, so no request is
accepted that the spec's validator refuses, and every refusal has that validator's message."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from hypothesis import given, settings
from hypothesis import strategies as st

from service.http.contract import Contract

CONTRACT = Contract.load()
OPERATIONS = sorted(CONTRACT.operations.values(), key=lambda op: op.operation_id)
BODIES = [op for op in OPERATIONS if op.body_validator is not None]
PARAMETERS = [(op, p) for op in OPERATIONS for p in op.parameters]

#: Values near the spec's own: its enums, examples and boundaries, plus text that trips
#: regular-expression dialects (a trailing newline, Unicode digits, controls, surrogates).
TRICKY_TEXT = [
    "",
    "1",
    "1\n",
    "01",
    "٣",
    "\u00a0",
    "a\x00",
    "\x7f",
    "\ud800",
    "x" * 300,
    "article",
    "image",
    "rewrite",
    "http://127.0.0.1:9",
    "u@example.com",
    "9" * 16,
    "9" * 17,
    "-1",
    "1.0",
    "true",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.sampled_from(TRICKY_TEXT)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        pointer = unquote(node["$ref"].split("#", 1)[1])
        node = CONTRACT._resolve({"$ref": "#" + pointer})
    return node


def _fields(op) -> list[str]:
    schema = _resolve(op.body_validator.schema)
    names: set[str] = set()
    for node in [
        schema,
        *schema.get("allOf", []),
        *schema.get("oneOf", []),
        *schema.get("anyOf", []),
    ]:
        names |= set(_resolve(node).get("properties", {}))
    return sorted(names) or ["x"]


def _python_errors(validator, value: Any) -> list[Any]:
    return list(validator.iter_errors(value))


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_a_body_the_compiled_validator_accepts_has_no_error(data):
    op = data.draw(st.sampled_from(BODIES), label="operation")
    fields = _fields(op)
    body = data.draw(
        st.dictionaries(st.sampled_from(fields), JSON, max_size=len(fields)) | JSON, label="body"
    )
    if op.body_is_valid(body):
        assert _python_errors(op.body_validator, body) == [], (op.operation_id, body)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_a_parameter_the_compiled_validator_accepts_has_no_error(data):
    op, parameter = data.draw(st.sampled_from(PARAMETERS), label="parameter")
    value = data.draw(SCALARS, label="value")
    if parameter.is_valid(value):
        assert _python_errors(parameter.validator, value) == [], (
            op.operation_id,
            parameter.name,
            value,
        )


def test_the_compiled_validators_accept_the_plugins_usual_calls():
    credits = CONTRACT.operations["getUserCredits"]
    by_name = {p.name: p for p in credits.parameters}
    assert by_name["user_id"].is_valid("12")
    deduct = CONTRACT.operations["deductCredits"]
    assert deduct.body_is_valid(
        {"user_id": 12, "user_email": "u@example.com", "credit_type": "article", "amount": 1}
    )
    assert not deduct.body_is_valid({"user_id": 12})
