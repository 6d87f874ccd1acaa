"""Stripe's published OpenAPI spec as a JSON Schema oracle for the fake Stripe's answers.

Invariant: the spec is read once per process (`load_spec`); every validator resolves `$ref`
against the whole spec, with OpenAPI 3.0's `nullable: true` turned into "or null".
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parents[2]
ENV_DIR = "STRIPE_OPENAPI_DIR"


def spec_dir() -> Path | None:
    """Where `spec3.json` and `fixtures3.json` are: `$STRIPE_OPENAPI_DIR`, or the shared
    vendor directory beside this checkout (or beside the worktrees' directory)."""
    candidates = [os.environ.get(ENV_DIR, "")]
    candidates += [str(p / "shared" / "vendor" / "stripe-openapi") for p in ROOT.parents[:2]]
    for candidate in candidates:
        if candidate and (Path(candidate) / "spec3.json").is_file():
            return Path(candidate)
    return None


@functools.cache
def load_spec() -> dict[str, Any]:
    """spec3.json with `nullable` converted, so JSON Schema validators read it as meant."""
    directory = spec_dir()
    if directory is None:
        raise FileNotFoundError(f"spec3.json not found; set {ENV_DIR}")
    raw = json.loads((directory / "spec3.json").read_text(encoding="utf-8"))
    return {
        "paths": raw["paths"],
        "components": {"schemas": _nullable(raw["components"]["schemas"])},
    }


@functools.cache
def load_fixtures() -> dict[str, Any]:
    """fixtures3.json's `resources`: Stripe's example object per resource."""
    directory = spec_dir()
    assert directory is not None
    return json.loads((directory / "fixtures3.json").read_text(encoding="utf-8"))["resources"]


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def _validator(pointer: str) -> Draft7Validator:
    # The spec is the root document, so `#/components/schemas/...` resolves inside it.
    return Draft7Validator({**load_spec(), "$ref": pointer})


def component_validator(name: str) -> Draft7Validator:
    """A validator for `components.schemas[name]` (e.g. "checkout.session")."""
    return _validator(f"#/components/schemas/{name}")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def spec_path(path: str, method: str) -> str:
    """The spec's path template an actual request path falls under (`/v1/refunds/re_1` ->
    `/v1/refunds/{refund}`), preferring a literal segment over a parameter."""
    candidates = []
    for template, operations in load_spec()["paths"].items():
        if method.lower() not in operations:
            continue
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            candidates.append(template)
    if not candidates:
        raise KeyError(f"{method} {path} is not in Stripe's spec")
    return min(candidates, key=lambda t: t.count("{"))


def response_validator(path: str, method: str, status: int) -> Draft7Validator:
    """The validator for the answer Stripe's spec gives `method path` with `status`."""
    try:
        template = spec_path(path, method)
    except KeyError:
        if status == 200:
            raise
        return component_validator("error")  # an unknown route's 404
    key = "200" if status == 200 else "default"
    pointer = f"#/paths/{_escape(template)}/{method.lower()}/responses/{key}"
    return _validator(pointer + "/content/application~1json/schema")


def violations(validator: Draft7Validator, instance: Any) -> list[str]:
    """Every schema violation as `path: message`; a failed `anyOf` is explained by the errors
    of the branch the value was meant for (the object, not the `null` or the id string)."""
    return sorted({line for error in validator.iter_errors(instance) for line in _describe(error)})


def _describe(error: Any) -> list[str]:
    if not error.context:
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        return [f"{where}: {error.message[:200]}"]
    branches: dict[Any, list[Any]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    # A branch whose only complaint is the value's type is not the one the value was meant for.
    meant = [
        errors
        for errors in branches.values()
        if not all(e.validator == "type" and e.path == error.path for e in errors)
    ]
    chosen = meant[0] if meant else min(branches.values(), key=len)
    return [line for sub in chosen for line in _describe(sub)]


# -- the request schemas the fake checks params against -------------------------------------

PARAMS_FILE = ROOT / "harness" / "fake_stripe" / "stripe_params.json"
_KEPT = ("type", "required", "additionalProperties", "items", "anyOf", "enum", "maxLength")


def _lean(schema: dict[str, Any]) -> dict[str, Any]:
    """A request schema with only what validation reads (no descriptions)."""
    out: dict[str, Any] = {}
    for key in _KEPT:
        if key not in schema:
            continue
        value = schema[key]
        if key in ("items", "additionalProperties") and isinstance(value, dict):
            value = _lean(value)
        elif key == "anyOf":
            value = [_lean(branch) for branch in value]
        out[key] = value
    if "properties" in schema:
        out["properties"] = {name: _lean(sub) for name, sub in schema["properties"].items()}
    return out


# The pinned SDK's params of each operation: the spec lags it (`status` and `created` on the
# Checkout Sessions list, `ui_mode` on create...), and what it sends must pass.
SDK_PARAMS = {
    "GET /v1/checkout/sessions": "checkout.SessionListParams",
    "POST /v1/checkout/sessions": "checkout.SessionCreateParams",
    "GET /v1/checkout/sessions/{session}": "checkout.SessionRetrieveParams",
    "POST /v1/checkout/sessions/{session}/expire": "checkout.SessionExpireParams",
    "GET /v1/checkout/sessions/{session}/line_items": "checkout.SessionListLineItemsParams",
    "GET /v1/payment_intents": "PaymentIntentListParams",
    "POST /v1/payment_intents": "PaymentIntentCreateParams",
    "GET /v1/payment_intents/{intent}": "PaymentIntentRetrieveParams",
    "POST /v1/payment_intents/{intent}/confirm": "PaymentIntentConfirmParams",
    "POST /v1/payment_intents/{intent}/cancel": "PaymentIntentCancelParams",
    "GET /v1/payment_methods": "PaymentMethodListParams",
    "POST /v1/payment_methods": "PaymentMethodCreateParams",
    "GET /v1/payment_methods/{payment_method}": "PaymentMethodRetrieveParams",
    "GET /v1/refunds": "RefundListParams",
    "POST /v1/refunds": "RefundCreateParams",
    "GET /v1/refunds/{refund}": "RefundRetrieveParams",
    "GET /v1/charges": "ChargeListParams",
    "GET /v1/charges/{charge}": "ChargeRetrieveParams",
    "GET /v1/disputes": "DisputeListParams",
    "GET /v1/disputes/{dispute}": "DisputeRetrieveParams",
    "GET /v1/events": "EventListParams",
    "GET /v1/events/{id}": "EventRetrieveParams",
    "GET /v1/webhook_endpoints": "WebhookEndpointListParams",
    "POST /v1/webhook_endpoints": "WebhookEndpointCreateParams",
    "GET /v1/webhook_endpoints/{webhook_endpoint}": "WebhookEndpointRetrieveParams",
    "POST /v1/webhook_endpoints/{webhook_endpoint}": "WebhookEndpointUpdateParams",
    "DELETE /v1/webhook_endpoints/{webhook_endpoint}": "WebhookEndpointDeleteParams",
    "POST /v1/payment_intents/{intent}/capture": "PaymentIntentCaptureParams",
    "POST /v1/payment_methods/{payment_method}/attach": "PaymentMethodAttachParams",
    "POST /v1/refunds/{refund}": "RefundUpdateParams",
    "POST /v1/disputes/{dispute}": "DisputeUpdateParams",
    "POST /v1/disputes/{dispute}/close": "DisputeCloseParams",
    "GET /v1/products": "ProductListParams",
    "POST /v1/products": "ProductCreateParams",
    "GET /v1/products/{id}": "ProductRetrieveParams",
    "GET /v1/prices": "PriceListParams",
    "POST /v1/prices": "PriceCreateParams",
    "GET /v1/prices/{price}": "PriceRetrieveParams",
    "GET /v1/customers": "CustomerListParams",
    "POST /v1/customers": "CustomerCreateParams",
    "GET /v1/customers/{customer}": "CustomerRetrieveParams",
    "POST /v1/customers/{customer}": "CustomerUpdateParams",
    "POST /v1/test_helpers/customers/{customer}/fund_cash_balance": (
        "test_helpers.CustomerFundCashBalanceParams"
    ),
}


def sdk_params(operation: str) -> tuple[set[str], set[str]]:
    """(every param, the required ones) the pinned SDK's TypedDict gives `operation`,
    without its request options (`api_key`, `idempotency_key`, ...)."""
    import importlib

    import stripe

    module, _, name = ("params." + SDK_PARAMS[operation]).rpartition(".")
    cls = getattr(importlib.import_module(f"stripe.{module}"), name)
    options = set(stripe.RequestOptions.__annotations__)
    return set(cls.__annotations__) - options, set(cls.__required_keys__) - options


def request_schemas(served: list[tuple[str, str]]) -> dict[str, Any]:
    """`{"POST /v1/refunds": schema, ...}`: each served operation's params (form body and
    query string) as one object schema, from the raw spec (nullable is not a request thing);
    a param only the pinned SDK knows is taken as is (`{}`), and a param is required only
    where both require it."""
    directory = spec_dir()
    assert directory is not None
    paths = json.loads((directory / "spec3.json").read_text(encoding="utf-8"))["paths"]
    out: dict[str, Any] = {}
    for method, template in sorted(served):
        operation = paths[template][method.lower()]
        body = operation.get("requestBody", {}).get("content", {})
        schema = _lean(body.get("application/x-www-form-urlencoded", {}).get("schema", {}))
        schema.setdefault("properties", {})
        schema.setdefault("type", "object")
        schema["additionalProperties"] = False
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            schema["properties"][parameter["name"]] = _lean(parameter.get("schema", {}))
            if parameter.get("required"):
                schema.setdefault("required", []).append(parameter["name"])
        operation_name = f"{method} {template}"
        known, required = sdk_params(operation_name)
        for name in sorted(known - set(schema["properties"])):
            schema["properties"][name] = {}
        if "required" in schema:
            schema["required"] = [n for n in schema["required"] if n in required]
        for keys, values in WIDENED_ENUMS.items():
            _widen_enum(schema, keys, values)
        out[operation_name] = schema
    return out


# Enum values the spec lacks that Stripe's own CLI fixtures send, so Stripe takes them:
# `stripe trigger payment_intent.partially_funded` asks for a `jp_bank_account` transfer.
WIDENED_ENUMS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("payment_method_options", "customer_balance", "bank_transfer", "type"): ("jp_bank_account",),
}


def _widen_enum(schema: dict[str, Any], keys: tuple[str, ...], values: tuple[str, ...]) -> None:
    for branch in schema.get("anyOf", []):
        _widen_enum(branch, keys, values)
    if not keys:
        if "enum" in schema:
            schema["enum"] = sorted({*schema["enum"], *values})
        return
    inner = schema.get("properties", {}).get(keys[0])
    if isinstance(inner, dict):
        _widen_enum(inner, keys[1:], values)


def params_file_text(schemas: dict[str, Any]) -> str:
    """The vendored file's text: one line per operation, so a diff names the operation."""
    lines = [f"{json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in schemas.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


# Routes the fake serves that Stripe's spec leaves out, with why: no schema checks them.
UNPUBLISHED: dict[tuple[str, str], str] = {
    ("GET", "/v1/payment_pages/{id}"): "hosted Checkout's own API; `stripe trigger` pays by it",
    ("POST", "/v1/payment_pages/{id}/confirm"): "hosted Checkout's own API, as above",
}


def served_operations() -> list[tuple[str, str]]:
    """(method, spec path template) of every `/v1` route the fake serves that the spec has."""
    served = [route for route in fake_routes() if route not in UNPUBLISHED]
    return sorted({(m, spec_path(re.sub(r"\{[^}]+\}", "x_1", p), m)) for m, p in served})


def fake_routes() -> list[tuple[str, str]]:
    """(method, path pattern) of every `/v1` route the fake's app registers."""
    from aiohttp import web

    from harness.fake_stripe.api import add_api_routes

    app = web.Application()
    add_api_routes(app)
    routes = [(r.method, r.resource.canonical) for r in app.router.routes() if r.resource]
    return sorted({(m, p) for m, p in routes if m != "HEAD" and p.startswith("/v1/")})


if __name__ == "__main__":  # python -m tests.support.stripe_openapi: rewrite the vendored file
    PARAMS_FILE.write_text(params_file_text(request_schemas(served_operations())), "utf-8")
    print(f"wrote {PARAMS_FILE}")
