"""Bad input answers in the envelope with a stable code and the right status, never a 500;
and the spec accepts every request the real plugin sends."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.errors import ApiError
from service.http.contract import Contract, SpecError, SpecValidator, coerce, spec_patterns
from service.http.ecma_pattern import ecma_regex
from tests.service.test_admin_packages import NEW_PACKAGE
from tests.support.plugin_calls import fill_placeholders, load_plugin_calls
from tests.support.stripe import event_body, signature_header

PLACEHOLDERS = {
    "instance_id": "0b6c1f7e-2d1c-4f5e-9a57-0f4b0f6c5e11",
    "site_url": "http://127.0.0.1:8081",
    "api_token": "rk_" + "a" * 43,
    "webhook_secret": "whsec_" + "b" * 43,
    "session_id": "cs_test_a1b2c3d4",
    "payment_intent_id": "pi_3abcdef",
}


def fill(value: Any) -> Any:
    """Replace `{{name}}` placeholders the way the replayer does."""
    return fill_placeholders(value, PLACEHOLDERS)


def envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract.load()


@pytest.fixture(scope="module")
def plugin_calls() -> dict:
    return load_plugin_calls()


def operation_for(contract: Contract, method: str, path: str):
    for op in contract.operations.values():
        pattern = "^" + re.sub(r"{[^}]+}", "[^/]+", op.path) + "$"
        if op.method == method and re.match(pattern, path):
            return op
    raise AssertionError(f"no operation for {method} {path}")


# ---------------------------------------------------------------- malformed JSON
async def test_malformed_json_is_400_invalid_json(service):
    for raw in (b"{", b"{'instance_id': 'x'}", b"not json", b"\xff\xfe{}", b'{"a": 1} trailing'):
        response = await service.http.post(
            f"{service.url}/api/v1/plugins/register",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        envelope(response, 400, "invalid_json")


async def test_absurdly_nested_json_is_400_invalid_json(site):
    for depth in (40, 900, 5000, 200_000):
        raw = b'{"user_id": 1, "x": ' + b"[" * depth + b"]" * depth + b"}"
        response = await site.post(
            "/analytics/usage", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (depth, response.text)
        envelope(response, 400, "invalid_json")
    reasonable = {
        "generations": [{"user_id": "1", "created_at": "2025-11-06 09:20:01"}],
        "sync_period": {"from": "2025-11-06 08:20:01"},
        "extra": [[[{"a": [1]}]]],
    }
    assert (await site.post("/analytics/usage", json=reasonable)).status_code == 200


async def test_malformed_json_on_an_authenticated_call_is_400_invalid_json(site):
    response = await site.post(
        "/users/deduct-credits",
        content=b'{"user_id": 1,',
        headers={"Content-Type": "application/json"},
    )
    envelope(response, 400, "invalid_json")


# ---------------------------------------------------------------- media type
async def test_a_body_that_is_not_json_is_415(service):
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
    ):
        response = await service.http.post(
            f"{service.url}/api/v1/plugins/register",
            content=b"instance_id=x",
            headers={"Content-Type": content_type},
        )
        envelope(response, 415, "unsupported_media_type")
    assert await service.store.list_sites() == []


async def test_a_body_without_a_content_type_is_415(site):
    response = await site.service.http.post(
        f"{site.service.url}/api/v1/users/deduct-credits",
        content=b'{"user_id": 1}',
        headers={k: v for k, v in site.headers().items()},
    )
    envelope(response, 415, "unsupported_media_type")


async def test_json_with_a_charset_is_accepted(service):
    body = json.dumps(
        {
            "instance_id": "inst-charset",
            "site_url": "https://a.example",
            "admin_email": "a@example.com",
        }
    ).encode()
    response = await service.http.post(
        f"{service.url}/api/v1/plugins/register",
        content=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------- size
async def test_a_body_over_the_limit_is_413_and_one_under_it_is_served(make_service):
    service = await make_service(max_body_bytes=2048)
    body = json.dumps(
        {
            "instance_id": "big",
            "site_url": "https://a.example",
            "admin_email": "a@example.com",
            "site_title": "x" * 5000,
        }
    )
    response = await service.http.post(
        f"{service.url}/api/v1/plugins/register",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    envelope(response, 413, "payload_too_large")
    assert await service.store.get_site_by_instance("big") is None
    await service.register(site_url="https://a.example")  # asserts the 200


# ---------------------------------------------------------------- schema
SCHEMA_VIOLATIONS = {
    "array": [],
    "string": "a string",
    "number": 42,
    "id-number": {
        "instance_id": 5,
        "site_url": "https://a.example",
        "admin_email": "a@example.com",
    },
    "ftp-url": {"instance_id": "x", "site_url": "ftp://a.example", "admin_email": "a@example.com"},
    "bad-email": {
        "instance_id": "x",
        "site_url": "https://a.example",
        "admin_email": "not-an-email",
    },
    "negative-count": {
        "instance_id": "x",
        "site_url": "https://a.example",
        "admin_email": "a@example.com",
        "post_count": -1,
    },
    "bad-date": {
        "instance_id": "x",
        "site_url": "https://a.example",
        "admin_email": "a@example.com",
        "activation_date": "yesterday",
    },
}


async def test_schema_violations_are_400_validation_error(service):
    for case, body in SCHEMA_VIOLATIONS.items():
        response = await service.http.post(f"{service.url}/api/v1/plugins/register", json=body)
        assert response.status_code == 400, case
        envelope(response, 400, "validation_error")
    assert await service.store.list_sites() == []


async def test_an_empty_required_body_names_every_missing_field(service):
    response = await service.http.post(
        f"{service.url}/api/v1/plugins/register",
        content=b"",
        headers={"Content-Type": "application/json"},
    )
    body = envelope(response, 400, "invalid_request")
    assert body["message"] == "Missing required fields: instance_id, site_url, admin_email"


async def test_a_missing_field_is_400_invalid_request_naming_it(service):
    response = await service.http.post(
        f"{service.url}/api/v1/plugins/register",
        json={"instance_id": "x", "site_url": "https://a.example"},
    )
    body = envelope(response, 400, "invalid_request")
    assert body["message"] == "Missing required fields: admin_email"
    assert await service.store.list_sites() == []


async def test_the_message_names_the_offending_field(site):
    response = await site.post(
        "/users/deduct-credits", json={"user_id": 1, "credit_type": "article", "amount": 0}
    )
    body = envelope(response, 400, "validation_error")
    assert "amount" in body["message"]


async def test_a_missing_query_parameter_is_400_invalid_request(site):
    body = envelope(await site.get("/users/credits"), 400, "invalid_request")
    assert body["message"] == "Missing required fields: user_id"


async def test_bad_query_parameters_are_400_validation_error(site):
    for query in ({"user_id": "abc"}, {"user_id": "0"}, {"user_id": "-3"}, {"user_id": "1" * 40}):
        response = await site.get("/users/credits", params=query)
        assert response.status_code == 400, query
        envelope(response, 400, "validation_error")
    for query in (
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "ten"},
        {"offset": "-1"},
        {"credit_type": "video"},
    ):
        response = await site.get("/users/transactions", params={"user_id": "1", **query})
        assert response.status_code == 400, query
        envelope(response, 400, "validation_error")


async def test_a_bad_path_parameter_is_400_validation_error(site):
    response = await site.get("/instances/" + "x" * 65)
    envelope(response, 400, "validation_error")


async def test_a_bad_idempotency_key_header_is_400_validation_error(site):
    response = await site.post(
        "/users/deduct-credits",
        json={"user_id": 1, "credit_type": "article", "amount": 1},
        headers={"Idempotency-Key": "x" * 256},
    )
    envelope(response, 400, "validation_error")


# ---------------------------------------------------------------- routing
async def test_an_unknown_route_is_404_not_found(service):
    # `/` and `/api/v1` answer the root page (getServiceRoot, getApiRoot).
    for path in ("/api/v1/nope", "/api/v2/health", "/api/v1/users", "/api/v1/health/x", "/x"):
        response = await service.http.get(f"{service.url}{path}")
        assert response.status_code == 404, path
        envelope(response, 404, "not_found")


async def test_a_wrong_method_is_405_method_not_allowed(service):
    for method, path in (
        ("DELETE", "/api/v1/health"),
        ("GET", "/api/v1/plugins/register"),
        ("PUT", "/api/v1/users/deduct-credits"),
        ("POST", "/api/v1/packages"),
        ("PATCH", "/api/v1/config/provider"),
    ):
        response = await service.http.request(method, f"{service.url}{path}")
        assert response.status_code == 405, (method, path)
        envelope(response, 405, "method_not_allowed")


# ---------------------------------------------------------------- never a 500
async def test_bad_input_of_every_class_never_answers_500(site):
    http, url = site.service.http, site.service.url
    attempts = [
        await site.post(
            "/users/deduct-credits",
            content=b"\x00\x01",
            headers={"Content-Type": "application/json"},
        ),
        await site.post(
            "/users/deduct-credits",
            json={"user_id": {"$gt": 0}, "credit_type": "article", "amount": 1},
        ),
        await site.post(
            "/users/deduct-credits", json={"user_id": 1, "credit_type": ["article"], "amount": 1}
        ),
        await site.post(
            "/users/deduct-credits", json={"user_id": 1, "credit_type": "article", "amount": 1.5}
        ),
        await site.post(
            "/users/deduct-credits",
            json={"user_id": 1, "credit_type": "article", "amount": float("1e308")},
        ),
        await site.post(
            "/users/deduct-credits", json={"user_id": 1, "credit_type": "article", "amount": 10**30}
        ),
        await site.post(
            "/users/deduct-credits", json={"user_id": 10**30, "credit_type": "article", "amount": 1}
        ),
        await site.post(
            "/users/deduct-credits", content=b"NaN", headers={"Content-Type": "application/json"}
        ),
        await site.post(
            "/users/deduct-credits",
            content=b'{"amount": Infinity}',
            headers={"Content-Type": "application/json"},
        ),
        await site.get("/users/credits", params={"user_id": "1\x00"}),
        await site.get("/users/credits", params={"user_id": "99999999999999999999"}),
        await site.put(f"/instances/{site.instance_id}", json={}),
        await site.put(f"/instances/{site.instance_id}", json=None),
        await http.post(
            f"{url}/api/v1/plugins/register",
            json={"instance_id": "\u0000", "site_url": "x", "admin_email": "y"},
        ),
        await http.get(
            f"{url}/api/v1/config/provider", params={"provider": "../etc"}, headers=site.headers()
        ),
        await http.post(
            f"{url}/api/v1/admin/packages",
            json={"package_id": "X"},
            headers={"Authorization": "Bearer nope"},
        ),
    ]
    for response in attempts:
        assert response.status_code < 500, (response.request.url, response.text)
        body = response.json()
        assert body["success"] is False and body["error"], response.text


# ---------------------------------------------------------------- the plugin's own calls
def test_every_plugin_call_passes_request_validation(contract, plugin_calls):
    checked = 0
    for call in plugin_calls["calls"]:
        op = operation_for(contract, call["method"], call["path"])
        headers = call["headers"]
        if isinstance(headers, str):
            headers = plugin_calls["header_sets"][headers]
        headers = {k.lower(): v for k, v in fill(headers).items()}
        query = {k: str(v) for k, v in fill(call.get("query", {})).items()}
        op.validate_parameters(query, {}, headers)
        if "body" in call:
            op.validate_body(fill(call["body"]))
        checked += 1
    assert checked == len(plugin_calls["calls"]) >= 17


def test_plugin_calls_use_only_operations_that_need_the_headers_they_send(contract, plugin_calls):
    for call in plugin_calls["calls"]:
        op = operation_for(contract, call["method"], call["path"])
        if call["name"].startswith("register"):
            assert op.security == "public"
        elif call["name"] != "packages":
            assert op.security == "plugin", call["name"]
            assert call["headers"] in ("plugin", "wordpress")


def test_query_strings_arrive_as_strings_and_are_coerced(contract):
    op = contract.operations["getUserCredits"]
    params = op.validate_parameters(
        {"user_id": "123", "user_email": "e@example.com", "site_url": "http://x"}, {}, {}
    )
    assert params["user_id"] == "123"
    paging = contract.operations["listUserTransactions"].validate_parameters(
        {"user_id": "1", "limit": "20"}, {}, {}
    )
    assert paging["limit"] == 20 and paging["offset"] == 0


@pytest.mark.parametrize(("raw", "number"), [("0", 0.0), ("-2.5", -2.5), ("1e3", 1000.0)])
def test_a_query_number_is_coerced(raw, number):
    assert coerce(raw, {"type": "number"}) == number


DEDUCT = {
    "user_id": 1,
    "user_email": "editor@example.com",
    "site_url": "http://x",
    "credit_type": "article",
    "amount": 1,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"credit_type": "video"}, "credit_type"),
        ({"credit_type": "Article"}, "credit_type"),
        ({"amount": 0}, "amount"),
        ({"amount": -1}, "amount"),
        ({"amount": 10**9}, "amount"),
        ({"amount": "1"}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": None}, "amount"),
        ({"user_id": 0}, "user_id"),
        ({"user_id": -5}, "user_id"),
        ({"user_id": "abc"}, "user_id"),
        ({"user_id": 1.5}, "user_id"),
        ({"user_id": None}, "user_id"),
        ({"user_email": 7}, "user_email"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else v,
)
def test_the_deduct_schema_rejects(contract, change, field):
    with pytest.raises(ApiError) as raised:
        contract.operations["deductCredits"].validate_body({**DEDUCT, **change})
    assert raised.value.status == 400 and raised.value.code == "validation_error"
    assert field in raised.value.message


@pytest.mark.parametrize("missing", ["user_id", "credit_type", "amount"])
def test_the_deduct_schema_requires(contract, missing):
    body = {k: v for k, v in DEDUCT.items() if k != missing}
    with pytest.raises(ApiError, match=missing):
        contract.operations["deductCredits"].validate_body(body)


def test_the_deduct_schema_accepts_a_user_id_as_a_string_and_extra_fields(contract):
    contract.operations["deductCredits"].validate_body(
        {**DEDUCT, "user_id": "12", "instance_id": "abc", "plugin_version": "2.2.0"}
    )


CHECKOUT = {
    "user_id": 1,
    "user_email": "editor@example.com",
    "credit_type": "article",
    "package_id": "article_starter",
    "amount": 750,
}


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("createCheckoutSession", {**CHECKOUT, "amount": 0}),
        ("createCheckoutSession", {**CHECKOUT, "amount": -750}),
        ("createCheckoutSession", {**CHECKOUT, "credit_type": "video"}),
        ("createCheckoutSession", {**CHECKOUT, "amount": "750"}),
        ("createPaymentIntent", {"user_id": 1, "package_id": "image_starter", "amount": 10**12}),
        ("createPaymentIntent", {"user_id": 1, "package_id": "image_starter", "currency": "JPYEN"}),
        ("confirmPayment", {"payment_intent_id": "pi_1", "credit_type": "video"}),
        ("adminAdjustCredits", {"credit_type": "article", "amount": 0, "reason": "x"}),
        ("adminAdjustCredits", {"credit_type": "video", "amount": 5, "reason": "x"}),
        ("adminAdjustCredits", {"credit_type": "article", "amount": "5", "reason": "x"}),
        (
            "adminCreatePackage",
            {
                "package_id": "p",
                "name": "P",
                "credit_type": "article",
                "credits": 0,
                "price": 100,
                "currency": "JPY",
            },
        ),
        (
            "adminCreatePackage",
            {
                "package_id": "p",
                "name": "P",
                "credit_type": "article",
                "credits": 10,
                "price": -1,
                "currency": "JPY",
            },
        ),
    ],
)
def test_money_schemas_reject_unknown_types_and_non_positive_or_wrong_typed_amounts(
    contract, operation, body
):
    with pytest.raises(ApiError) as raised:
        contract.operations[operation].validate_body(body)
    assert raised.value.code == "validation_error"


# ---------------------------------------------------------------- text that is not Unicode
async def test_a_lone_surrogate_in_a_json_string_is_400_and_writes_nothing(service, site):
    raw = (
        b'{"instance_id": "surrogate-site", "site_url": "https://a.example",'
        b' "admin_email": "a@example.com", "site_title": "\\ud800"}'
    )
    response = await service.http.post(
        f"{service.url}/api/v1/plugins/register",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    body = envelope(response, 400, "invalid_request")
    assert "body.site_title" in body["message"]
    assert await service.store.get_site_by_instance("surrogate-site") is None
    for raw in (
        b'{"user_id": 7, "credit_type": "article", "amount": 1, "user_email": "\\udfff"}',
        b'{"user_id": 7, "credit_type": "article", "amount": 1, "\\ud800": 1}',
        b'{"user_id": 7, "generation_type": "article", "x": ["\\udbff\\u0041"]}',
    ):
        path = "/analytics/generation" if b"generation_type" in raw else "/users/deduct-credits"
        response = await site.post(path, content=raw, headers={"Content-Type": "application/json"})
        envelope(response, 400, "invalid_request")
    assert await service.store.get_user(site.site_id, "7") is None
    # A surrogate pair is one character, and text.
    response = await site.post(
        "/users/deduct-credits",
        headers={"Content-Type": "application/json"},
        content=(
            b'{"user_id": 3, "credit_type": "article", "amount": 1, "note": "\\ud83d\\ude00"}'
        ),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Authorization", b"Bearer \xff\xfe"),
        ("Authorization", b"Bearer rk_\xe9"),
        ("X-Instance-ID", b"\xff"),
        ("X-Instance-ID", b"inst\xc3"),
        ("Idempotency-Key", b"key-\x80"),
        ("User-Agent", b"WordPress/\xff"),
    ],
)
async def test_a_header_that_is_not_utf8_is_400_on_every_kind_of_operation(
    service, site, header, value
):
    calls = [
        (
            "POST",
            "/users/deduct-credits",
            {**site.headers(), header: value},
            {"user_id": 8, "credit_type": "article", "amount": 1},
        ),
        ("GET", "/users/credits?user_id=8", {**site.headers(), header: value}, None),
        ("GET", "/auth/debug", {header: value}, None),
        ("GET", "/health", {header: value}, None),
        ("GET", "/admin/sites", {**service.admin_headers(), header: value}, None),
        (
            "POST",
            "/plugins/register",
            {header: value},
            {"instance_id": "hdr", "site_url": "https://a.example", "admin_email": "a@b.example"},
        ),
    ]
    for method, path, headers, body in calls:
        response = await service.http.request(
            method, f"{service.url}/api/v1{path}", headers=headers, json=body
        )
        envelope(response, 400, "invalid_request")
        assert "header" in response.json()["message"]
    assert await service.store.get_user(site.site_id, "8") is None
    assert await service.store.get_site_by_instance("hdr") is None


@pytest.mark.parametrize(
    "query",
    [
        "user_id=1&user_email=%ff",
        "user_id=1&user_email=%ed%a0%80",
        "user_id=%c3",
        "user_id=1&%fe=1",
    ],
)
async def test_a_query_that_is_not_utf8_is_400_not_replaced(service, site, query):
    response = await site.get(f"/users/credits?{query}")
    envelope(response, 400, "invalid_request")
    response = await service.http.get(
        f"{service.url}/api/v1/admin/sites?{query}", headers=service.admin_headers()
    )
    envelope(response, 400, "invalid_request")
    assert await service.store.get_user(site.site_id, "1") is None


async def test_a_path_that_is_not_utf8_is_400(service, site):
    for path in ("/admin/webhooks/%ff/retry", "/admin/webhooks/whd_%ed%a0%80/retry"):
        response = await service.http.post(
            f"{service.url}/api/v1{path}", headers=service.admin_headers()
        )
        assert envelope(response, 400, "invalid_request")["message"].startswith("path")
    envelope(await site.get("/instances/%c3"), 400, "invalid_request")


async def test_control_characters_in_an_email_are_400(site):
    for email in ("a\x00b@example.com", "ed\n@example.com", "\x7f"):
        response = await site.post(
            "/users/deduct-credits",
            json={"user_id": 5, "user_email": email, "credit_type": "article", "amount": 1},
        )
        envelope(response, 400, "validation_error")
        response = await site.get("/users/credits", params={"user_id": "5", "user_email": email})
        envelope(response, 400, "validation_error")
    assert await site.service.store.get_user(site.site_id, "5") is None


# ---------------------------------------------------------------- missing required fields
async def test_checkout_without_the_seeds_fields_names_every_missing_one(site):
    response = await site.post(
        "/checkout/sessions", json={"user_id": 1, "package_id": "article_starter"}
    )
    body = envelope(response, 400, "invalid_request")
    assert body["message"] == "Missing required fields: user_email, credit_type, amount"
    response = await site.post("/checkout/sessions", json={})
    body = envelope(response, 400, "invalid_request")
    assert body["message"] == (
        "Missing required fields: user_id, user_email, credit_type, package_id, amount"
    )
    # Other schema errors keep their code when no field is missing.
    response = await site.post("/checkout/sessions", json={**CHECKOUT, "amount": "750"})
    assert "amount" in envelope(response, 400, "validation_error")["message"]


# ---------------------------------------------------------------- patterns read as ECMA-262
SPEC_PATTERNS = sorted(set(spec_patterns(Contract.load().spec)))


def _both_verdicts(pattern: str, text: str) -> tuple[bool, bool]:
    """What the spec's validator and the compiled one say of `text` under `pattern`."""
    schema = {"type": "string", "pattern": pattern}
    return (
        SpecValidator(schema).is_valid(text),
        jsonschema_rs.validator_for(schema).is_valid(text),
    )


def test_the_spec_has_patterns_to_check():
    assert len(SPEC_PATTERNS) >= 15
    assert "^[A-Za-z]{3}$" in SPEC_PATTERNS  # Currency


@pytest.mark.parametrize("pattern", SPEC_PATTERNS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_spec_pattern_refuses_a_trailing_newline_in_both_validators(pattern, data):
    value = data.draw(st.from_regex(pattern, fullmatch=True), label="value")
    assert _both_verdicts(pattern, value) == (True, True), value
    if pattern.endswith("$"):  # anchored at the end: nothing may follow, not even a newline
        for tail in ("\n", "\r\n", "\n\n"):
            assert _both_verdicts(pattern, value + tail) == (False, False), value + tail


#: Characters where regular-expression dialects part: line ends, Unicode digits, letters and
#: spaces, controls.
DIALECT_TEXT = st.text(
    st.sampled_from("aZ09_-.:@/ \n\r\t\x0b\x0c\x00\x1f\x7f٣é\u00a0\u2028\u3000\ufeff"), max_size=8
)


@pytest.mark.parametrize("pattern", SPEC_PATTERNS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_both_validators_agree_on_every_spec_pattern(pattern, data):
    text = data.draw(
        st.from_regex(pattern, fullmatch=True) | DIALECT_TEXT | st.text(max_size=8), label="base"
    )
    cut = data.draw(st.integers(0, len(text)), label="cut")
    text = text[:cut] + data.draw(DIALECT_TEXT, label="inserted") + text[cut:]
    python, compiled = _both_verdicts(pattern, text)
    assert python == compiled, (pattern, text)


@pytest.mark.parametrize(
    ("pattern", "text", "ecma"),
    [
        ("^[a-z]+$", "jpy\n", False),
        ("^[a-z]+$", "jpy", True),
        ("^a$|^b$", "a\n", False),
        ("[$]", "$", True),
        ("^a\\$$", "a$", True),
        ("^\\d+$", "٣", False),
        ("^\\w+$", "é", False),
        ("^\\s$", "\ufeff", True),
        ("^\\s$", "\u3000", True),
        ("^\\s$", "\x1c", False),
        ("^[\\s]$", "\u2028", True),
        ("^\\S$", "\u00a0", False),
        ("^3[.]1[.]", "3.1.0\n", True),
    ],
)
def test_patterns_mean_what_ecma_262_says(pattern, text, ecma):
    assert _both_verdicts(pattern, text) == (ecma, ecma)
    assert (ecma_regex(pattern).search(text) is not None) is ecma


@pytest.mark.parametrize("pattern", ["^a.b$", "[]", "[^]", "^[\\S]$", "^a\\Z", "\\Aa"])
def test_a_spec_pattern_the_validators_would_read_differently_is_refused(pattern):
    spec = copy.deepcopy(Contract.load().spec)
    spec["components"]["schemas"]["Currency"]["pattern"] = pattern
    with pytest.raises(SpecError, match="pattern|differ|ECMA|engine|\\["):
        Contract(spec)


async def test_a_trailing_newline_is_refused_where_the_issue_found_it(service, site):
    admin = service.admin_headers()
    for path, body, headers in [
        ("/admin/packages", {**NEW_PACKAGE, "package_id": "article_starter\n"}, admin),
        ("/admin/packages", {**NEW_PACKAGE, "currency": "jpy\n"}, admin),
        (
            "/plugins/register",
            {
                "instance_id": "0b6c1f7e-2d1c-4f5e-9a57-0f4b0f6c5e12\n",
                "site_url": "http://127.0.0.1:9",
                "admin_email": "admin@example.com",
            },
            {},
        ),
        (
            f"/admin/sites/{site.site_id}/users/8/credits",
            {"credit_type": "article", "amount": 5, "reason": "r", "adjustment_id": "adj-1\n"},
            admin,
        ),
        (
            "/users/deduct-credits",
            {"user_id": 8, "user_email": "u@example.com\n", "credit_type": "article", "amount": 1},
            site.headers(),
        ),
    ]:
        response = await service.http.post(
            f"{service.url}/api/v1{path}", json=body, headers=headers
        )
        envelope(response, 400, "validation_error")
    packages = (
        await service.http.get(f"{service.url}/api/v1/admin/packages", headers=admin)
    ).json()
    assert all(p["package_id"] != NEW_PACKAGE["package_id"] for p in packages["packages"])
    assert await service.store.get_user(site.site_id, "8") is None
    assert await service.store.list_ledger(site_id=site.site_id) == []


# ---------------------------------------------------------------- numbers JSON has no spelling for
#: What Python's json reads as a float though RFC 8259 has no such number.
NOT_JSON_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1E999"]


@pytest.mark.parametrize("number", NOT_JSON_NUMBERS)
async def test_a_number_json_cannot_spell_is_400_invalid_json_and_stores_nothing(
    service, site, number
):
    response = await service.http.put(
        f"{service.url}/api/v1/admin/config/providers/openai",
        content=b'{"temperature": ' + number.encode() + b"}",
        headers={**service.admin_headers(), "Content-Type": "application/json"},
    )
    assert number in envelope(response, 400, "invalid_json")["message"]
    assert await service.store.get_setting("provider:openai") is None
    response = await site.post(
        "/analytics/usage",
        content=b'{"user_id": 1, "x": [' + number.encode() + b"]}",
        headers={"Content-Type": "application/json"},
    )
    envelope(response, 400, "invalid_json")


@pytest.mark.parametrize("number", NOT_JSON_NUMBERS)
async def test_a_stripe_event_with_a_number_json_cannot_spell_is_400_and_writes_nothing(
    make_world, number
):
    world = await make_world(deliver_events=False, wordpress=False, webhook_dispatch=False)
    session_id = await world.checkout("article_starter")
    event = await world.event("checkout.session.completed", **await world.pay_for_ids(session_id))
    body = event_body(event).replace(b'"amount_total": 750', b'"amount_total": ' + number.encode())
    assert number.encode() in body

    response = await world.post(body, signature_header(body))

    assert number in envelope(response, 400, "invalid_event")["message"]
    assert not await world.event_recorded(event["id"])
    assert await world.ledger("purchase") == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5", 5),
        ("٥", "٥"),
        ("٢٠", "٢٠"),
        ("２０", "２０"),
        ("1_0", "1_0"),
        (" 5", " 5"),
        ("5\n", "5\n"),
        ("+20", "+20"),
        ("1e1", "1e1"),
        ("1" * 19, "1" * 19),
        ("-0", 0),
    ],
)
def test_a_query_integer_is_ascii_digits_only(contract, raw, expected):
    assert coerce(raw, {"type": "integer"}) == expected
    assert type(coerce(raw, {"type": "integer"})) is type(expected)


@pytest.mark.parametrize(
    "raw", ["nan", "NaN", "inf", "-Infinity", "1e400", "1e999", "1_0", "٥", "٣", " 1", "1."]
)
def test_a_query_number_is_a_json_number_or_stays_text(raw):
    assert coerce(raw, {"type": "number"}) == raw
    assert coerce("-1.5e3", {"type": "number"}) == -1500.0


async def test_a_unicode_digit_is_no_query_integer(service, site):
    envelope(
        await site.get("/users/transactions", params={"user_id": "1", "limit": "٥"}),
        400,
        "validation_error",
    )
