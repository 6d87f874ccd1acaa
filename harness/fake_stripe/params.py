"""Request params checked against Stripe's own request schemas, as stripe-mock does.

Invariant: every `/v1` request whose operation is in `stripe_params.json` (the request
schemas of Stripe's OpenAPI spec for the routes the fake serves, widened by the params the
pinned SDK knows, vendored by `python -m tests.support.stripe_openapi`) is refused with Stripe's 400 before its handler
runs when a param is unknown, a required one is missing or one has the wrong type; so a
refused request changes nothing and stores no idempotent result, as at Stripe.
"""

from __future__ import annotations

import functools
import json
import pathlib
import re
from collections.abc import Mapping
from typing import Any

from .errors import StripeError, invalid_request

SCHEMA_FILE = pathlib.Path(__file__).with_name("stripe_params.json")
_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)")


@functools.cache
def _operations() -> list[tuple[str, re.Pattern[str], int, dict[str, Any]]]:
    schemas = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    out = []
    for key, schema in schemas.items():
        method, template = key.split(" ", 1)
        pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
        out.append((method, pattern, template.count("{"), schema))
    return out


def schema_for(method: str, path: str) -> dict[str, Any] | None:
    """The params schema of `method path`, the literal route winning (`.../expire` over an id)."""
    matches = [(n, s) for m, p, n, s in _operations() if m == method and p.match(path)]
    return min(matches, key=lambda match: match[0])[1] if matches else None


def check_params(schema: dict[str, Any], params: Mapping[str, Any]) -> None:
    """Raise Stripe's 400 for the first param that `schema` refuses."""
    # `key` is not a param but a credential: Stripe.js sends its publishable key as `key=pk_...`.
    _check(schema, {name: value for name, value in params.items() if name != "key"}, "")


def _name(parent: str, key: object) -> str:
    return f"{parent}[{key}]" if parent else str(key)


def _check(schema: dict[str, Any], value: Any, name: str) -> None:
    if value == "" and name:  # `param=` unsets an optional value, as Stripe reads it
        return
    if "anyOf" in schema:
        _check_any(schema["anyOf"], value, name)
        return
    kind = schema.get("type")
    if kind == "object":
        _check_object(schema, value, name)
    elif kind == "array":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise invalid_request("Invalid array", param=name)
        for index, item in enumerate(items):
            _check(schema.get("items", {}), item, _name(name, index))
    elif kind == "integer":
        if not (isinstance(value, str) and _INTEGER.fullmatch(value)):
            raise _invalid(name, f"Invalid integer: {_shown(value)}", "parameter_invalid_integer")
    elif kind == "number":
        if not (isinstance(value, str) and _NUMBER.fullmatch(value)):
            raise invalid_request(f"Invalid decimal: {_shown(value)}", param=name)
    elif kind == "boolean":
        if value not in ("true", "false"):
            raise invalid_request(f"Invalid boolean: {_shown(value)}", param=name)
    elif kind == "string":
        _check_string(schema, value, name)


def _check_object(schema: dict[str, Any], value: Any, name: str) -> None:
    if isinstance(value, list):  # `metadata[0]=x` was listified; its keys are strings to Stripe
        value = {str(index): item for index, item in enumerate(value)}
    if not isinstance(value, dict):
        raise invalid_request("Invalid hash", param=name or None)
    properties = schema.get("properties", {})
    # The spec closes only the top level: its nested hashes lag the SDK (it lacks
    # `automatic_payment_methods[allow_redirects]`), so they stay open as it says.
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if key in properties:
            _check(properties[key], item, _name(name, key))
        elif isinstance(extra, dict):
            _check(extra, item, _name(name, key))
        elif extra is False:
            full = _name(name, key)
            raise _invalid(full, f"Received unknown parameter: {full}", "parameter_unknown")
    for key in schema.get("required", []):
        if value.get(key) in (None, ""):
            full = _name(name, key)
            raise _invalid(full, f"Missing required param: {full}.", "parameter_missing")


def _check_string(schema: dict[str, Any], value: Any, name: str) -> None:
    if not isinstance(value, str):
        raise invalid_request(f"Invalid string: {_shown(value)}", param=name)
    choices = schema.get("enum")
    if choices and value not in choices:
        listed = ", ".join(choices[:-1]) + (" or " if len(choices) > 1 else "") + choices[-1]
        field = name.rsplit("[", 1)[-1].rstrip("]")
        raise invalid_request(f"Invalid {field}: must be one of {listed}", param=name)
    limit = schema.get("maxLength")
    if limit is not None and len(value) > limit:
        raise invalid_request(
            f"Invalid string: {value[:20]}...; must be at most {limit} characters", param=name
        )


def _check_any(branches: list[dict[str, Any]], value: Any, name: str) -> None:
    errors: list[tuple[bool, StripeError]] = []
    for branch in branches:
        try:
            _check(branch, value, name)
            return
        except StripeError as error:
            errors.append((_fits(branch, value), error))
    # Explain with the branch the value was shaped for (a hash for a hash), not the first one.
    raise max(errors, key=lambda fit_error: fit_error[0])[1]


def _fits(schema: dict[str, Any], value: Any) -> bool:
    kind = schema.get("type")
    if isinstance(value, dict | list):
        return kind in ("object", "array")
    return kind not in ("object", "array")


def _invalid(param: str, message: str, code: str) -> StripeError:
    return invalid_request(message, param=param, code=code)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)[:100]
