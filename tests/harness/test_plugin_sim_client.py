"""PluginClient sends exactly what the real plugin sends: headers, query strings, JSON bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from harness.plugin_sim import CALLS, BadCallArguments, PluginClient, UnknownCall, php_json_encode
from tests.support.capture import CapturedRequest, CaptureServer
from tests.support.plugin_calls import fill_placeholders, load_plugin_calls

INSTANCE_ID = "550e8400-e29b-41d4-a716-446655440000"
SITE_URL = "http://wp.example.test"
API_TOKEN = "rk_test_token"
PLUGIN_UA = "Rakubun-WordPress-Plugin/2.2.0"
WORDPRESS_UA = f"WordPress/6.8.1; {SITE_URL}"


@pytest.fixture
async def server() -> AsyncIterator[CaptureServer]:
    async with CaptureServer() as capturing:
        yield capturing


@pytest.fixture
async def client(server: CaptureServer) -> AsyncIterator[PluginClient]:
    async with PluginClient(
        server.url, instance_id=INSTANCE_ID, site_url=SITE_URL, api_token=API_TOKEN
    ) as plugin:
        yield plugin


PLUGIN_HEADERS = {
    "Authorization": f"Bearer {API_TOKEN}",
    "Content-Type": "application/json",
    "X-Instance-ID": INSTANCE_ID,
    "User-Agent": PLUGIN_UA,
}
WORDPRESS_HEADERS = {**PLUGIN_HEADERS, "User-Agent": WORDPRESS_UA}
CALL_ARGUMENTS = {"verify": {"session_id": "cs_1"}, "confirm": {"payment_intent_id": "pi_1"}}


def sent_headers(request: CapturedRequest, names: list[str]) -> dict[str, str | None]:
    return {name: request.headers.get(name) for name in names}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("packages", PLUGIN_HEADERS),
        ("credits", PLUGIN_HEADERS),
        ("deduct", PLUGIN_HEADERS),
        ("create-intent", PLUGIN_HEADERS),
        ("confirm", PLUGIN_HEADERS),
        ("config-stripe", PLUGIN_HEADERS),
        ("config-provider", PLUGIN_HEADERS),
        ("analytics-usage", PLUGIN_HEADERS),
        ("checkout", WORDPRESS_HEADERS),
        ("verify", WORDPRESS_HEADERS),
    ],
)
async def test_each_call_sends_its_header_set(client, server, name, expected):
    await client.call(name, CALL_ARGUMENTS.get(name))

    assert sent_headers(server.last, list(expected)) == expected


async def test_registration_sends_no_authorization_and_no_instance_header(client, server):
    await client.call("register")

    headers = server.last.headers
    assert "Authorization" not in headers
    assert "X-Instance-ID" not in headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == PLUGIN_UA


async def test_get_parameters_travel_as_strings_in_the_query(client, server):
    await client.call("credits", {"user_id": 123, "user_email": "editor@example.com"})

    assert server.last.method == "GET"
    assert server.last.path == "/api/v1/users/credits"
    assert server.last.query == {
        "user_id": "123",
        "user_email": "editor@example.com",
        "site_url": SITE_URL,
    }
    assert server.last.body == b""


async def test_bodies_are_encoded_like_php_json_encode(client, server):
    await client.call("checkout")

    raw = server.last.body
    assert b"\\/wp-admin\\/admin.php" in raw
    assert b"{CHECKOUT_SESSION_ID}" in raw
    body = json.loads(raw)
    assert body["amount"] == 750 and body["user_id"] == 1
    assert body["return_url"] == (
        f"{SITE_URL}/wp-admin/admin.php?page=rakubun-ai-purchase"
        "&session_id={CHECKOUT_SESSION_ID}&status=success"
    )
    assert (
        body["cancel_url"]
        == f"{SITE_URL}/wp-admin/admin.php?page=rakubun-ai-purchase&status=cancel"
    )


def test_php_json_encode_escapes_slashes_and_non_ascii():
    assert php_json_encode({"url": "a/b", "title": "テ"}) == b'{"url":"a\\/b","title":"\\u30c6"}'


async def test_confirm_carries_no_user_email(client, server):
    await client.call(
        "confirm", {"payment_intent_id": "pi_123", "user_id": 1, "credit_type": "image"}
    )

    body = json.loads(server.last.body)
    assert "user_email" not in body
    assert body == {
        "payment_intent_id": "pi_123",
        "user_id": 1,
        "credit_type": "image",
        "site_url": SITE_URL,
        "instance_id": INSTANCE_ID,
    }


async def test_usage_rows_carry_numbers_as_strings(client, server):
    await client.call(
        "analytics-usage",
        {"generations": [{"user_id": 3, "content_type": "image", "result_length": 12}]},
    )

    body = json.loads(server.last.body)
    assert body["generations"] == [{"user_id": "3", "content_type": "image", "result_length": "12"}]
    assert body["total_users"] == 2


async def test_extra_fields_are_sent_along(client, server):
    await client.call("deduct", {"credit_type": "image", "amount": 2, "instance_id": INSTANCE_ID})

    body = json.loads(server.last.body)
    assert (body["credit_type"], body["amount"], body["instance_id"]) == ("image", 2, INSTANCE_ID)


async def test_a_call_without_its_required_value_is_refused_before_sending(client, server):
    with pytest.raises(BadCallArguments, match="verify: missing session_id"):
        await client.call("verify")

    assert server.requests == []


@pytest.mark.parametrize(
    ("name", "overrides"),
    [("analytics-generation", {"prompt": 7}), ("analytics-usage", {"generations": 3})],
)
async def test_a_value_of_the_wrong_shape_is_refused(client, name, overrides):
    with pytest.raises(BadCallArguments, match=name):
        await client.call(name, overrides)


async def test_an_unknown_call_name_is_refused(client):
    with pytest.raises(UnknownCall, match="no-such-call"):
        await client.call("no-such-call")


async def test_error_statuses_come_back_as_answers(client, server):
    server.answer(
        "/api/v1/users/deduct-credits",
        402,
        json={"success": False, "error": "insufficient_credits"},
    )

    status, body = await client.call("deduct", {"amount": 999})

    assert status == 402
    assert body["error"] == "insufficient_credits"


async def test_a_non_json_answer_comes_back_as_text(client, server):
    server.answer("/api/v1/packages", 502, text="Bad Gateway")

    answer = await client.call("packages")

    assert (answer.status, answer.body) == (502, "Bad Gateway")


@pytest.mark.parametrize("base_suffix", ["", "/", "/api/v1", "/api/v1/"])
async def test_api_base_accepts_the_origin_or_the_plugin_base(server, base_suffix):
    async with PluginClient(
        server.url + base_suffix, instance_id=INSTANCE_ID, site_url=SITE_URL
    ) as plugin:
        await plugin.call("packages")

    assert server.last.path == "/api/v1/packages"


# -- replay of the shared contract --------------------------------------------------------------


async def test_every_contract_call_is_replayed_exactly(client, server):
    contract = load_plugin_calls()
    values = {
        "site_url": SITE_URL,
        "instance_id": INSTANCE_ID,
        "api_token": API_TOKEN,
        "session_id": "cs_test_contract",
        "payment_intent_id": "pi_test_contract",
    }
    captured = {"session_id": "cs_test_contract", "payment_intent_id": "pi_test_contract"}

    for call in contract["calls"]:
        name = call["name"]
        overrides = {
            field: captured[field]
            for field in ("session_id", "payment_intent_id")
            if (call.get("body") or {}).get(field) == "{{" + field + "}}"
        }
        await client.call(name, overrides)
        request = server.last

        headers = call["headers"]
        expected_headers = fill_placeholders(
            contract["header_sets"][headers] if isinstance(headers, str) else headers, values
        )
        assert request.method == call["method"], name
        assert request.path == call["path"], name
        assert sent_headers(request, list(expected_headers)) == expected_headers, name
        if "Authorization" not in expected_headers:
            assert "Authorization" not in request.headers, name
            assert "X-Instance-ID" not in request.headers, name
        assert request.query == fill_placeholders(call.get("query", {}), values), name
        expected_body = fill_placeholders(call.get("body"), values)
        assert (json.loads(request.body) if request.body else None) == expected_body, name

    assert {call["name"] for call in contract["calls"]} <= set(CALLS)
