"""The spec drives the service: every operation has a handler and a route, and the spec itself
is a valid OpenAPI document that describes every call the plugin and the admins make."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from openapi_spec_validator import validate

from service.http.app import create_app, new_app_name
from service.http.contract import SPEC_PATH, Contract, SpecError
from service.http.routes import OPERATION_HANDLERS
from service.settings import Settings

#: The plugin-facing API (the calls of PLUGIN-CONTRACT.md, health, auth debug and Stripe's
#: webhook), as (method, path) under the spec: each must be in the spec and bound.
REQUIRED_OPERATIONS = [
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/auth/debug"),
    ("POST", "/api/v1/plugins/register"),
    ("GET", "/api/v1/packages"),
    ("GET", "/api/v1/users/credits"),
    ("POST", "/api/v1/users/deduct-credits"),
    ("GET", "/api/v1/users/transactions"),
    ("POST", "/api/v1/checkout/sessions"),
    ("GET", "/api/v1/checkout/sessions/{session_id}"),
    ("POST", "/api/v1/checkout/verify"),
    ("POST", "/api/v1/payments/create-intent"),
    ("POST", "/api/v1/payments/confirm"),
    ("GET", "/api/v1/instances/{instance_id}"),
    ("PUT", "/api/v1/instances/{instance_id}"),
    ("GET", "/api/v1/config/provider"),
    ("PUT", "/api/v1/config/provider"),
    ("GET", "/api/v1/config/providers"),
    ("GET", "/api/v1/config/openai"),
    ("GET", "/api/v1/config/article"),
    ("GET", "/api/v1/config/image"),
    ("GET", "/api/v1/config/rewrite"),
    ("GET", "/api/v1/config/stripe"),
    ("POST", "/api/v1/analytics/generation"),
    ("POST", "/api/v1/analytics/usage"),
    ("POST", "/api/v1/webhooks/stripe"),
]

#: The admin API's areas (sites, users' credits, ledger, packages, Stripe and provider
#: config, webhooks, stats, reconcile), each as a path that must exist under /api/v1/admin.
REQUIRED_ADMIN_PATHS = [
    ("GET", "/api/v1/admin/sites"),
    ("GET", "/api/v1/admin/sites/{site_id}"),
    ("POST", "/api/v1/admin/sites/{site_id}/disable"),
    ("POST", "/api/v1/admin/sites/{site_id}/enable"),
    ("GET", "/api/v1/admin/sites/{site_id}/users"),
    ("POST", "/api/v1/admin/sites/{site_id}/users/{user_id}/credits"),
    ("GET", "/api/v1/admin/ledger"),
    ("GET", "/api/v1/admin/packages"),
    ("POST", "/api/v1/admin/packages"),
    ("PUT", "/api/v1/admin/packages/{package_id}"),
    ("DELETE", "/api/v1/admin/packages/{package_id}"),
    ("GET", "/api/v1/admin/config/stripe"),
    ("PUT", "/api/v1/admin/config/stripe"),
    ("GET", "/api/v1/admin/config/providers"),
    ("PUT", "/api/v1/admin/config/providers/{provider}"),
    ("GET", "/api/v1/admin/sites/{site_id}/webhooks"),
    ("POST", "/api/v1/admin/sites/{site_id}/webhooks/test"),
    ("POST", "/api/v1/admin/webhooks/{delivery_id}/retry"),
    ("GET", "/api/v1/admin/stats"),
    ("POST", "/api/v1/admin/reconcile"),
]


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract.load()


def spec_operations(contract: Contract):
    for path, item in contract.spec["paths"].items():
        for method in ("get", "put", "post", "delete", "patch"):
            if method in item:
                yield method.upper(), path, item[method]


def resolve(contract: Contract, node: dict) -> dict:
    while "$ref" in node:
        target = contract.spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


# ---------------------------------------------------------------- drift
def test_every_spec_operation_has_a_handler(contract):
    assert contract.unbound_operations(OPERATION_HANDLERS) == set()


def test_every_handler_names_a_spec_operation(contract):
    assert contract.unknown_handlers(OPERATION_HANDLERS) == set()


def test_drift_is_detected_both_ways(contract):
    handlers = dict(OPERATION_HANDLERS)
    handlers.pop("getHealth")
    handlers["getSomethingElse"] = OPERATION_HANDLERS["getHealth"]
    assert contract.unbound_operations(handlers) == {"getHealth"}
    assert contract.unknown_handlers(handlers) == {"getSomethingElse"}


def test_the_app_refuses_to_start_when_spec_and_handlers_drift(contract, monkeypatch):
    from service.http import app as app_module

    handlers = dict(OPERATION_HANDLERS)
    handlers.pop("getHealth")
    monkeypatch.setattr(app_module, "OPERATION_HANDLERS", handlers)
    with pytest.raises(RuntimeError, match="getHealth"):
        create_app(Settings.from_env({}), name=new_app_name(), touchup=False)


def test_the_router_sends_every_operation_to_its_handler(contract, tmp_path):
    app = create_app(
        Settings.from_env({}, sqlite_path=tmp_path / "db.sqlite3"),
        name=new_app_name(),
        touchup=False,
    )
    app.router.finalize()
    for op in contract.operations.values():
        concrete = re.sub(r"{[^}]+}", "x1", op.path)
        route, handler, _ = app.router.get(concrete, op.method, None)
        assert route.name.rsplit(".", 1)[-1] == op.operation_id, (op.path, route.name)
        assert handler.__name__ == op.operation_id


def test_the_only_routes_outside_the_spec_are_the_operator_ones_and_the_docs_files(
    contract, tmp_path
):
    """Beside the operations, the app serves `/metrics` and the reference page's files."""
    from service.http.app import OUTSIDE_CONTRACT

    app = create_app(
        Settings.from_env({}, sqlite_path=tmp_path / "db.sqlite3"),
        name=new_app_name(),
        touchup=False,
    )
    app.router.finalize()
    outside = [
        ("/" + route.path.lstrip("/"), route.name.rsplit(".", 1)[-1], route.methods)
        for route in app.router.routes
        if route.name.rsplit(".", 1)[-1] not in contract.operations
    ]
    operator = {path: name for path, name, _ in outside if path in OUTSIDE_CONTRACT}
    docs = [(path, methods) for path, _, methods in outside if path not in OUTSIDE_CONTRACT]
    assert operator == OUTSIDE_CONTRACT
    assert not set(OUTSIDE_CONTRACT) & set(contract.spec["paths"])
    assert docs and all(
        path.startswith("/api/v1/docs/assets/") and "<" not in path and methods <= {"GET", "HEAD"}
        for path, methods in docs
    ), docs


def test_without_the_docs_page_every_route_is_a_spec_operation(contract, tmp_path):
    app = create_app(
        Settings.from_env({}, sqlite_path=tmp_path / "db.sqlite3", api_docs=False),
        name=new_app_name(),
        touchup=False,
    )
    assert not [r.path for r in app.router.routes if r.path.startswith("api/v1/docs/assets")]


# ---------------------------------------------------------------- the spec itself
def test_the_spec_is_valid_openapi(contract):
    validate(contract.spec)


def test_the_spec_is_openapi_3_1(contract):
    assert contract.spec["openapi"].startswith("3.1")


def test_the_spec_file_is_the_one_the_service_loads():
    assert SPEC_PATH.name == "openapi.yaml" and SPEC_PATH.is_file()


@pytest.mark.parametrize(
    ("method", "path"),
    REQUIRED_OPERATIONS + REQUIRED_ADMIN_PATHS,
    ids=[f"{m} {p}" for m, p in REQUIRED_OPERATIONS + REQUIRED_ADMIN_PATHS],
)
def test_the_spec_lists_the_operation(contract, method, path):
    item = contract.spec["paths"].get(path)
    assert item is not None, f"{path} is missing"
    assert method.lower() in item, f"{method} {path} is missing"


def test_operation_ids_are_unique(contract):
    ids = [op["operationId"] for _, _, op in spec_operations(contract)]
    assert len(ids) == len(set(ids))


def test_every_operation_has_an_id_a_known_tag_a_summary_and_responses(contract):
    tags = {t["name"] for t in contract.spec["tags"]}
    for method, path, op in spec_operations(contract):
        where = f"{method} {path}"
        assert op.get("operationId"), where
        assert op.get("tags") and set(op["tags"]) <= tags, where
        assert op.get("summary"), where
        assert op.get("responses"), where
        assert any(s.startswith("2") for s in op["responses"]), where


def test_every_4xx_and_5xx_answer_is_the_error_envelope(contract):
    envelope = {"$ref": "#/components/schemas/Error"}
    error_schema = contract.spec["components"]["schemas"]["Error"]
    assert set(error_schema["required"]) == {"success", "error", "message"}
    assert error_schema["properties"]["success"] == {"const": False}
    for method, path, op in spec_operations(contract):
        for status, response in op["responses"].items():
            if status[0] not in "45":
                continue
            schema = resolve(contract, response)["content"]["application/json"]["schema"]
            if schema != envelope:
                # An envelope with extra fields (402 insufficient_credits) builds on Error.
                assert envelope in resolve(contract, schema).get("allOf", []), (
                    f"{method} {path} {status}"
                )


def test_every_operation_with_a_body_documents_400_413_and_415(contract):
    for method, path, op in spec_operations(contract):
        if "requestBody" not in op:
            continue
        missing = {"400", "413", "415"} - set(op["responses"])
        assert not missing, f"{method} {path} lacks {sorted(missing)}"


@pytest.mark.parametrize(
    ("security", "statuses"), [("plugin", {"401", "403", "429"}), ("admin", {"401", "503"})]
)
def test_every_operation_documents_the_statuses_its_security_can_answer(
    contract, security, statuses
):
    secured = [op for op in contract.operations.values() if op.security == security]
    assert secured, f"no {security} operation"
    for op in secured:
        responses = contract.spec["paths"][op.path][op.method.lower()]["responses"]
        missing = statuses - set(responses)
        assert not missing, f"{op.operation_id} lacks {sorted(missing)}"


#: The operations that never read or write the store: the root pages and the spec itself.
STORELESS = {"getServiceRoot", "getApiRoot", "getOpenApiJson", "getOpenApiYaml", "getApiDocs"}


def test_every_operation_that_touches_the_store_documents_503(contract):
    """A store outage answers 503 `store_unavailable`: documented by the shared answer (an
    admin operation's 503 names both `admin_not_configured` and `store_unavailable`)."""
    shared = {
        "#/components/responses/StoreUnavailable",
        "#/components/responses/AdminNotConfigured",
    }
    assert STORELESS <= set(contract.operations)
    for op in contract.operations.values():
        if op.operation_id in STORELESS:
            continue
        responses = contract.spec["paths"][op.path][op.method.lower()]["responses"]
        assert responses.get("503", {}).get("$ref") in shared, op.operation_id
    for name in shared:
        answer = resolve(contract, {"$ref": name})
        assert "`store_unavailable`" in answer["description"], name
        assert "Retry-After" in answer["headers"], name


def test_every_operation_with_parameters_documents_400(contract):
    for op in contract.operations.values():
        if not op.parameters:
            continue
        responses = contract.spec["paths"][op.path][op.method.lower()]["responses"]
        assert "400" in responses, op.operation_id


def test_security_schemes_cover_plugin_admin_and_stripe(contract):
    schemes = contract.spec["components"]["securitySchemes"]
    bearer = [
        name for name, s in schemes.items() if s["type"] == "http" and s["scheme"] == "bearer"
    ]
    assert len(bearer) >= 2  # the site's token and the admin token
    headers = {s.get("name"): name for name, s in schemes.items() if s["type"] == "apiKey"}
    assert "X-Instance-ID" in headers
    assert "Stripe-Signature" in headers


def test_plugin_operations_need_the_token_and_the_instance_id_together(contract):
    schemes = contract.spec["components"]["securitySchemes"]
    instance_scheme = next(n for n, s in schemes.items() if s.get("name") == "X-Instance-ID")
    for method, path, op in spec_operations(contract):
        for requirement in op.get("security", []):
            if instance_scheme in requirement:
                bearer = [n for n in requirement if schemes[n]["type"] == "http"]
                assert bearer, f"{method} {path}: X-Instance-ID without a bearer token"


def test_security_of_each_area(contract):
    by_id = contract.operations
    public = {
        "getHealth",
        "getAuthDebug",
        "registerPlugin",
        "listPackages",
        "getOpenApiJson",
        "getOpenApiYaml",
        "getApiDocs",
        "getServiceRoot",
        "getApiRoot",
    }
    for op_id in public:
        assert by_id[op_id].security == "public", op_id
    assert by_id["receiveStripeWebhook"].security == "stripe"
    for op in by_id.values():
        if op.path.startswith("/api/v1/admin"):
            assert op.security == "admin", op.operation_id
        elif op.operation_id not in public | {"receiveStripeWebhook"}:
            assert op.security == "plugin", op.operation_id


# ---------------------------------------------------------------- x-rate-limit
def test_the_public_operations_limited_per_client_are_the_ones_the_spec_marks(contract):
    marked = {
        op["operationId"]
        for _, _, op in spec_operations(contract)
        if op.get("x-rate-limit") == "per-client"
    }
    limited = {op.operation_id for op in contract.operations.values() if op.rate_limited_per_client}
    assert limited == marked == {"registerPlugin", "getAuthDebug"}


def probe_spec(security: list, responses: tuple[str, ...] = ("200", "429"), **extra) -> dict:
    """A one-operation spec (`probe`), quick to bind, with `extra` keys next to `security`."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "probe", "version": "1"},
        "paths": {
            "/probe": {
                "get": {
                    "operationId": "probe",
                    "security": security,
                    **extra,
                    "responses": {status: {"description": status} for status in responses},
                }
            }
        },
    }


def test_a_probe_marked_per_client_is_limited_and_one_unmarked_is_not():
    assert (
        Contract(probe_spec([], **{"x-rate-limit": "per-client"}))
        .operations["probe"]
        .rate_limited_per_client
    )
    assert not Contract(probe_spec([])).operations["probe"].rate_limited_per_client


@given(
    st.one_of(
        st.text(max_size=20),
        st.integers(),
        st.booleans(),
        st.none(),
        st.lists(st.text(max_size=5), max_size=2),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    ).filter(lambda value: value != "per-client")
)
def test_any_other_x_rate_limit_value_is_refused(value):
    with pytest.raises(SpecError, match=r"probe: x-rate-limit must be per-client"):
        Contract(probe_spec([], **{"x-rate-limit": value})).operations  # noqa: B018


@pytest.mark.parametrize(
    ("security", "responses", "reason"),
    [
        ([{"pluginBearer": [], "instanceId": []}], ("200", "429"), "is for public operations"),
        ([{"adminBearer": []}], ("200", "429"), "is for public operations"),
        ([], ("200",), "needs its 429 answer documented"),
    ],
    ids=["plugin", "admin", "no-429"],
)
def test_x_rate_limit_is_refused_where_it_cannot_hold(security, responses, reason):
    with pytest.raises(SpecError, match=f"probe: x-rate-limit {reason}"):
        Contract(probe_spec(security, responses, **{"x-rate-limit": "per-client"})).operations  # noqa: B018


def test_a_spec_file_with_an_unknown_x_rate_limit_value_is_refused_when_loaded(contract, tmp_path):
    spec = copy.deepcopy(contract.spec)
    spec["paths"]["/api/v1/auth/debug"]["get"]["x-rate-limit"] = "per-site"
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(SpecError, match="getAuthDebug: x-rate-limit must be per-client"):
        Contract.load(path)


def test_every_json_example_of_a_response_matches_its_schema(contract):
    """Examples are documentation the plugin authors read: they must not lie."""
    for op in contract.operations.values():
        responses = contract.spec["paths"][op.path][op.method.lower()]["responses"]
        for status, response in responses.items():
            media = resolve(contract, response).get("content", {}).get("application/json", {})
            examples = [media["example"]] if "example" in media else []
            examples += [e["value"] for e in media.get("examples", {}).values()]
            for example in examples:
                assert op.response_errors(int(status), example) == [], f"{op.operation_id} {status}"


def test_every_json_example_of_a_request_matches_its_schema(contract):
    for op in contract.operations.values():
        body = contract.spec["paths"][op.path][op.method.lower()].get("requestBody")
        if not body:
            continue
        example = body["content"]["application/json"].get("example")
        if example is not None:
            op.validate_body(example)
