"""The real plugin's non-payment calls (plugin-calls.json), replayed in order with its exact
headers and bodies against a running service: each gets the status and fields the plugin reads."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.support.plugin_calls import fill_placeholders as fill
from tests.support.plugin_calls import load_plugin_calls

#: Calls that move money through Stripe; the payment suites replay those.
PAYMENT_PATHS = ("/api/v1/checkout/", "/api/v1/payments/")

JSON_TYPES = {
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def non_payment_calls() -> list[dict[str, Any]]:
    return [c for c in load_plugin_calls()["calls"] if not c["path"].startswith(PAYMENT_PATHS)]


def field(body: Any, path: str) -> Any:
    for part in path.split("."):
        assert isinstance(body, dict) and part in body, f"{path} is missing"
        body = body[part]
    return body


def keys_anywhere(body: Any) -> set[str]:
    if isinstance(body, dict):
        return set(body) | set().union(*(keys_anywhere(v) for v in body.values()))
    if isinstance(body, list):
        return set().union(*(keys_anywhere(v) for v in body)) if body else set()
    return set()


def test_the_replay_covers_every_non_payment_call():
    names = [c["name"] for c in non_payment_calls()]
    assert names == [
        "register",
        "register-again",
        "packages",
        "credits",
        "deduct",
        "config-stripe",
        "config-provider",
        "config-article",
        "config-image",
        "analytics-generation",
        "analytics-usage",
    ]


@pytest.fixture
def no_provider_keys_in_the_environment(monkeypatch):
    for name in ("OPENAI_API_KEY", "NOVITA_API_KEY"):
        monkeypatch.delenv(name, raising=False)


async def test_the_plugins_calls_get_what_the_plugin_reads(
    make_service, no_provider_keys_in_the_environment
):
    service = await make_service(stripe_public_key="pk_test_plugin_calls")
    spec = load_plugin_calls()
    values = {"instance_id": str(uuid.uuid4()), "site_url": "http://127.0.0.1:9"}
    for call in non_payment_calls():
        headers = call["headers"]
        if isinstance(headers, str):
            headers = spec["header_sets"][headers]
        headers = fill(headers, values)
        kwargs: dict[str, Any] = {"headers": headers}
        if "query" in call:
            kwargs["params"] = fill(call["query"], values)
        if "body" in call:
            # the plugin sends json_encode()d bytes with its own Content-Type header
            kwargs["content"] = json.dumps(fill(call["body"], values), ensure_ascii=False).encode()
        response = await service.http.request(call["method"], service.url + call["path"], **kwargs)
        name = call["name"]
        assert response.status_code == call["status"], (name, response.text)
        body = response.json()
        for path, kind in call["reads"].items():
            assert JSON_TYPES[kind](field(body, path)), (name, path, kind, body)
        if call["reads"].get("success") == "boolean":
            assert body["success"] is (call["status"] < 400), (name, body)
        for key, expected in call.get("expect", {}).items():
            assert field(body, key) == expected, (name, key)
        for forbidden in call.get("must_not_contain", []):
            assert forbidden not in keys_anywhere(body), (name, forbidden)
            for secret in (values.get("api_token"), values.get("webhook_secret")):
                assert secret not in response.text, name
        if name == "register":
            values["api_token"] = body["api_token"]
            values["webhook_secret"] = body["webhook_secret"]
        for key, source in call.get("captures", {}).items():
            values[key] = field(body, source)

    site = await service.store.get_site_by_instance(values["instance_id"])
    user = await service.store.get_user(site.site_id, "1")
    assert user.balances.article == 4  # the free 5, minus the one the plugin spent
    assert user.email == "editor@example.com"
